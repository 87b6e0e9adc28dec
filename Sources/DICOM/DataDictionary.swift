/// One attribute of the PS3.6 data dictionary.
public struct DictionaryEntry: Sendable, Hashable {
    /// The tag. For a repeating-group entry this is the tag that was looked
    /// up (`(6002,3000)`); in `DataDictionary.allEntries` it is the mask's
    /// first tag, with the free digits zero (`(6000,3000)`).
    public let tag: Tag
    /// The VR, or the first of the alternatives PS3.6 allows (`US` for
    /// `US or SS`, `OB` for `OB or OW`). `UN` for items and delimiters,
    /// which have none.
    public let vr: VR
    /// The VR column as PS3.6 writes it: `PN`, `US or SS`, `OB or OW`,
    /// `US or SS or OW`; empty for items and delimiters.
    public let vrText: String
    /// The VRs PS3.6 allows besides `vr` (`[.SS]` for `US or SS`,
    /// `[.SS, .OW]` for `US or SS or OW`); empty when the VR is unambiguous.
    public let alternateVRs: [VR]
    /// The value multiplicity: `1`, `1-n`, `2-2n`, ...
    public let vm: String
    /// The PS3.6 keyword (`PatientName`); empty for the few retired entries
    /// PS3.6 leaves without one.
    public let keyword: String
    /// The PS3.6 name (`Patient's Name`).
    public let name: String
    public let isRetired: Bool
    /// The tag as PS3.6 lists it, 8 upper-case hex digits with `x` for the
    /// digits a repeating-group mask leaves free: `00100010`, `60xx3000`.
    public let tagPattern: String

    /// `vr` followed by `alternateVRs`; empty for items and delimiters.
    public var allowedVRs: [VR] { vrText.isEmpty ? [] : [vr] + alternateVRs }

    /// PS3.6 allows more than one VR (`US or SS`, `OB or OW`, ...): which one
    /// applies depends on other attributes or on the transfer syntax.
    public var hasAmbiguousVR: Bool { !alternateVRs.isEmpty }

    /// The entry is a repeating-group mask (`50xx`, `60xx`, `7Fxx`, ...).
    public var isRepeatingGroup: Bool { tagPattern.utf8.contains(UInt8(ascii: "x")) }

    fileprivate func with(tag: Tag) -> DictionaryEntry {
        DictionaryEntry(tag: tag, vr: vr, vrText: vrText, alternateVRs: alternateVRs, vm: vm,
                        keyword: keyword, name: name, isRetired: isRetired, tagPattern: tagPattern)
    }
}

/// The PS3.6 data dictionary (`Generated/DataDictionary+Entries.swift`,
/// made by `tools/dictionary/generate.py`), parsed once at first use.
public enum DataDictionary {
    /// The entry for `tag`: an exact match; else, for `(gggg,0000)`, a
    /// generic UL "Group Length"; else a repeating-group mask that matches
    /// (`(6002,3000)` → `60xx3000` Overlay Data; masks never match odd,
    /// i.e. private, groups); else for a private creator `(gggg,0010-00FF)`
    /// in an odd group, LO "Private Creator"; otherwise nil.
    ///
    /// Standard tags cost one hash lookup.
    public static func entry(for tag: Tag) -> DictionaryEntry? {
        let tables = self.tables
        if let entry = tables.exact[tag.rawValue] { return entry }
        return tables.fallbackEntry(for: tag)
    }

    /// The VR of `tag` (the first alternative for `US or SS` and the like),
    /// by the same rules as `entry(for:)`; nil for tags it does not know.
    /// Cheaper than `entry(for:)`: no strings are copied.
    public static func vr(for tag: Tag) -> VR? {
        vrs.lookup(tag)?.vr
    }

    /// The VR of `tag` and, when PS3.6 allows several, the alternative that
    /// decides between them in implicit VR data (`SS` for `US or SS`, `OW`
    /// for `OB or OW`). What parsers need, from a table that costs a
    /// fraction of the full dictionary to build (no strings).
    static func vrChoice(for tag: Tag) -> (vr: VR, alternative: VR?)? {
        guard let choice = vrs.lookup(tag) else { return nil }
        return (choice.vr, choice.alternative)
    }

    /// The tag of a PS3.6 keyword (`"PatientName"` → `(0010,0010)`). A
    /// repeating-group keyword gives the mask's first group
    /// (`"OverlayData"` → `(6000,3000)`).
    public static func tag(forKeyword keyword: String) -> Tag? {
        byKeyword[keyword]?.tag
    }

    /// The entry of a PS3.6 keyword; see `tag(forKeyword:)`.
    public static func entry(forKeyword keyword: String) -> DictionaryEntry? {
        byKeyword[keyword]
    }

    /// Every entry, in tag order (repeating-group masks sort with their free
    /// digits zero).
    public static var allEntries: [DictionaryEntry] { tables.all }

    // `static let` is initialized lazily, once, thread-safely.
    private static let tables = Tables(table: dataDictionaryTable)
    /// Parsers only ask for VRs: this table is built on its own, from the
    /// same text, by scanning bytes (a tenth of the cost of `tables`).
    private static let vrs = VRTable(table: dataDictionaryTable)

    /// Built at the first keyword lookup, which parsers never make.
    private static let byKeyword: [String: DictionaryEntry] = {
        var byKeyword: [String: DictionaryEntry] = [:]
        byKeyword.reserveCapacity(tables.all.count)
        for entry in tables.all where !entry.keyword.isEmpty && byKeyword[entry.keyword] == nil {
            byKeyword[entry.keyword] = entry
        }
        return byKeyword
    }()
}

/// The parsed dictionary.
private final class Tables: Sendable {
    /// Entries whose group and element are all fixed.
    let exact: [UInt32: DictionaryEntry]
    /// One table per mask shape, most fixed bits first: an entry matches tag
    /// `t` when `t & shape.mask` is its key.
    let masks: [MaskTable]
    let all: [DictionaryEntry]

    struct MaskTable: Sendable {
        let mask: UInt32
        var entries: [UInt32: DictionaryEntry]
    }

    init(table: String) {
        var exact: [UInt32: DictionaryEntry] = [:]
        var masks: [UInt32: [UInt32: DictionaryEntry]] = [:]
        var all: [DictionaryEntry] = []
        exact.reserveCapacity(5200)
        all.reserveCapacity(5200)

        for line in table.utf8.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            guard fields.count == 6, fields[0].count == 8 else {
                assertionFailure("malformed data dictionary line: \(String(decoding: line, as: UTF8.self))")
                continue
            }
            let (mask, value) = tagPattern(fields[0])
            let vrText = String(decoding: fields[1], as: UTF8.self)
            let vrs = vrList(fields[1])
            let entry = DictionaryEntry(
                tag: Tag(rawValue: value),
                vr: vrs.first ?? .UN,
                vrText: vrText,
                alternateVRs: Array(vrs.dropFirst()),
                vm: String(decoding: fields[2], as: UTF8.self),
                keyword: String(decoding: fields[3], as: UTF8.self),
                name: String(decoding: fields[4], as: UTF8.self),
                isRetired: fields[5].first == UInt8(ascii: "1"),
                tagPattern: String(decoding: fields[0], as: UTF8.self))
            if mask == 0xFFFF_FFFF {
                exact[value] = entry
            } else {
                masks[mask, default: [:]][value] = entry
            }
            all.append(entry)
        }
        self.exact = exact
        self.masks = masks
            .map { MaskTable(mask: $0.key, entries: $0.value) }
            .sorted { ($0.mask.nonzeroBitCount, $0.mask) > ($1.mask.nonzeroBitCount, $1.mask) }
        self.all = all
    }

    /// Everything but the exact match.
    func fallbackEntry(for tag: Tag) -> DictionaryEntry? {
        if tag.isGroupLength {
            // Checked before the masks: (1000,xxx0) and (1010,xxxx) would
            // otherwise claim (1000,0000) and (1010,0000). Group lengths
            // other than those of groups 0000 and 0002 (exact entries) are
            // retired (PS3.5 §7.2).
            return DictionaryEntry(
                tag: tag, vr: .UL, vrText: "UL", alternateVRs: [], vm: "1",
                keyword: "GroupLength", name: "Group Length", isRetired: true,
                tagPattern: Tag.hex4(tag.group) + "0000")
        }
        if tag.group & 1 == 0 {
            for table in masks {
                if let entry = table.entries[tag.rawValue & table.mask] {
                    return entry.with(tag: tag)
                }
            }
        }
        if tag.isPrivateCreator {
            return DictionaryEntry(
                tag: tag, vr: .LO, vrText: "LO", alternateVRs: [], vm: "1",
                keyword: "PrivateCreator", name: "Private Creator", isRetired: false,
                tagPattern: tag.jsonKey)
        }
        return nil
    }
}

/// The VR column of the dictionary alone: what implicit-VR parsing needs,
/// looked up once per element of every implicit-VR header.
private final class VRTable: Sendable {
    struct Choice: Sendable {
        let vr: VR
        /// `SS` for `US or SS` (and `US or SS or OW`), `OW` for `OB or OW`,
        /// otherwise the first alternative; nil when the VR is unambiguous.
        let alternative: VR?
    }

    /// Exact tags in an open-addressing table (linear probing, a quarter
    /// full): a multiply and a compare or two, no hashing of its own.
    private let keys: [UInt32]
    private let choices: [Choice]
    private static let bits = 14
    private static let empty: UInt32 = 0xFFFF_FFFF   // (FFFF,FFFF) is no attribute
    /// Repeating-group masks, most fixed bits first (as `Tables.masks`).
    private let masks: [(mask: UInt32, entries: [UInt32: Choice])]

    init(table: String) {
        var keys = [UInt32](repeating: VRTable.empty, count: 1 << VRTable.bits)
        var choices = [Choice](repeating: Choice(vr: .UN, alternative: nil), count: 1 << VRTable.bits)
        var masks: [UInt32: [UInt32: Choice]] = [:]
        var text = table
        text.withUTF8 { bytes in
            var position = 0
            let count = bytes.count
            while position + 9 < count {
                // `tag TAB VR TAB ...`: 8 pattern digits, then the VR text.
                let (mask, value) = tagPattern(bytes[position..<position + 8])
                var vrEnd = position + 9
                while vrEnd < count, bytes[vrEnd] != UInt8(ascii: "\t") { vrEnd += 1 }
                let vrs = vrList(bytes[(position + 9)..<vrEnd])
                var cursor = vrEnd
                while cursor < count, bytes[cursor] != UInt8(ascii: "\n") { cursor += 1 }
                position = cursor + 1
                let alternatives = vrs.dropFirst()
                let choice = Choice(
                    vr: vrs.first ?? .UN,
                    alternative: alternatives.contains(.SS) ? .SS : alternatives.contains(.OW) ? .OW : alternatives.first)
                if mask == 0xFFFF_FFFF {
                    var slot = VRTable.slot(value)
                    while keys[slot] != VRTable.empty && keys[slot] != value { slot = (slot + 1) & ((1 << VRTable.bits) - 1) }
                    keys[slot] = value
                    choices[slot] = choice
                } else {
                    masks[mask, default: [:]][value] = choice
                }
            }
        }
        self.keys = keys
        self.choices = choices
        self.masks = masks
            .map { (mask: $0.key, entries: $0.value) }
            .sorted { ($0.mask.nonzeroBitCount, $0.mask) > ($1.mask.nonzeroBitCount, $1.mask) }
    }

    @inline(__always)
    private static func slot(_ key: UInt32) -> Int {
        Int((key &* 0x9E37_79B1) >> (32 - UInt32(bits)))
    }

    /// The same rules as `DataDictionary.entry(for:)`.
    func lookup(_ tag: Tag) -> Choice? {
        let key = tag.rawValue
        var slot = VRTable.slot(key)
        while true {
            let found = keys[slot]
            if found == key { return choices[slot] }
            if found == VRTable.empty { break }
            slot = (slot + 1) & ((1 << VRTable.bits) - 1)
        }
        if tag.isGroupLength { return Choice(vr: .UL, alternative: nil) }
        if tag.group & 1 == 0 {
            for table in masks {
                if let choice = table.entries[key & table.mask] { return choice }
            }
        }
        if tag.isPrivateCreator { return Choice(vr: .LO, alternative: nil) }
        return nil
    }
}

/// A PS3.6 tag pattern (`00100010`, `60xx3000`): the mask of its fixed
/// digits and their value.
private func tagPattern<Bytes: Collection<UInt8>>(_ digits: Bytes) -> (mask: UInt32, value: UInt32) {
    var mask: UInt32 = 0
    var value: UInt32 = 0
    for byte in digits {
        mask <<= 4
        value <<= 4
        if byte == UInt8(ascii: "x") { continue }
        mask |= 0xF
        value |= UInt32(hexDigit(byte))
    }
    return (mask, value)
}

/// The VRs of a PS3.6 VR column: "PN", "US or SS", "US or SS or OW" (two
/// letters every six bytes); empty for items and delimiters.
private func vrList<Bytes: Collection<UInt8>>(_ text: Bytes) -> [VR] {
    var vrs: [VR] = []
    var bytes = text.makeIterator()
    while let first = bytes.next(), let second = bytes.next() {
        if let vr = VR(byte0: first, byte1: second) { vrs.append(vr) }
        for _ in 0..<4 { _ = bytes.next() }   // " or "
    }
    return vrs
}

private func hexDigit(_ byte: UInt8) -> UInt8 {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    default: return 0
    }
}

/// One entry of the PS3.6 UID registry (Table A-1 and friends).
public struct UIDInfo: Sendable, Hashable {
    public let uid: String
    /// `JPEG Baseline (Process 1)`; empty for the two retired SOP classes
    /// PS3.6 lists without a name.
    public let name: String
    /// `Transfer Syntax`, `SOP Class`, `Meta SOP Class`, `Well-known SOP
    /// Instance`, `Coding Scheme`, `LDAP OID`, ...
    public let type: String
    /// `JPEGBaseline8Bit`; empty when PS3.6 gives none.
    public let keyword: String
    public let isRetired: Bool
}

/// The PS3.6 UID registry (`Generated/UIDRegistry+Entries.swift`), parsed
/// once at first use.
public enum UIDRegistry {
    public static func info(for uid: String) -> UIDInfo? {
        tables.byUID[uid]
    }

    /// The registered name of `uid`; nil when unknown or PS3.6 gives no name.
    public static func name(for uid: String) -> String? {
        guard let name = tables.byUID[uid]?.name, !name.isEmpty else { return nil }
        return name
    }

    /// The UID of a PS3.6 UID keyword (`"ExplicitVRLittleEndian"`).
    public static func info(forKeyword keyword: String) -> UIDInfo? {
        tables.byKeyword[keyword]
    }

    /// Every registered UID, in numeric order of their components.
    public static var all: [UIDInfo] { tables.all }

    private static let tables = UIDTables(table: uidRegistryTable)
}

private final class UIDTables: Sendable {
    let byUID: [String: UIDInfo]
    let byKeyword: [String: UIDInfo]
    let all: [UIDInfo]

    init(table: String) {
        var byUID: [String: UIDInfo] = [:]
        var byKeyword: [String: UIDInfo] = [:]
        var all: [UIDInfo] = []
        for line in table.utf8.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            guard fields.count == 5 else {
                assertionFailure("malformed UID registry line: \(String(decoding: line, as: UTF8.self))")
                continue
            }
            let info = UIDInfo(uid: fields[0], name: fields[1], type: fields[2],
                               keyword: fields[3], isRetired: fields[4] == "1")
            byUID[info.uid] = info
            if !info.keyword.isEmpty, byKeyword[info.keyword] == nil {
                byKeyword[info.keyword] = info
            }
            all.append(info)
        }
        self.byUID = byUID
        self.byKeyword = byKeyword
        self.all = all
    }
}
