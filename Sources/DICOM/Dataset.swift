import Foundation

/// An ordered collection of data elements: a DICOM data set or sequence item.
///
/// Elements are kept in ascending tag order. Values stay encoded; the
/// accessors decode strings with the data set's Specific Character Set
/// (inherited from the enclosing data set for sequence items).
public struct Dataset: Sendable {
    /// The elements when built or edited in memory (`parsed` is nil).
    private var stored: [DataElement]
    /// A data set as the parser left it (`parsed.buffer` is set): values are
    /// offsets into the read buffer, made into `Data` slices only when asked
    /// for. Scanning a disc reads a handful of the hundred-odd elements of
    /// every header; this spares a `Data` (and its reference count) for every
    /// other one. The first mutation turns it into `stored` elements.
    private var parsed: ParsedElements
    /// For a sequence item: it was encoded with undefined length.
    public var isUndefinedLengthItem: Bool
    /// For a sequence item read from a file: byte offset of its item tag
    /// from the start of the file (what DICOMDIR record offsets point at).
    public var itemOffset: Int?
    /// The inherited and own character sets, behind one reference: a
    /// `SpecificCharacterSet` is several arrays, and the parser copies and
    /// creates data sets (items) often.
    private var characterSets: CharacterSets
    /// The character set of the enclosing data set, for items that do not
    /// carry their own (0008,0005).
    public var inheritedCharacterSet: SpecificCharacterSet {
        get { characterSets.inherited }
        set { characterSets = CharacterSets(inherited: newValue, own: characterSets.own) }
    }
    /// Parsed from this data set's own (0008,0005), kept in step by every mutation.
    private var ownCharacterSet: SpecificCharacterSet? {
        get { characterSets.own }
        set { characterSets = CharacterSets(inherited: characterSets.inherited, own: newValue) }
    }

    /// What the items of a sequence in this data set inherit (shared, not copied).
    var characterSetsForItems: CharacterSets { characterSets.forItemsOrMade }

    /// Sets what an item inherits from its enclosing data set (the parser).
    mutating func inheritCharacterSets(_ sets: CharacterSets) {
        characterSets = sets.forItemsOrMade
    }

    public init() {
        self.init(parsed: ParsedElements())
    }

    /// Creates a data set from elements in any order; a later element with
    /// the same tag replaces an earlier one.
    public init(_ elements: [DataElement]) {
        self.init(parsed: ParsedElements())
        self.stored.reserveCapacity(elements.count)
        for element in elements { self.set(element) }
    }

    /// The parser's data set: values are read from `buffer` on demand.
    init(parsing buffer: Data) {
        self.init(parsed: ParsedElements(isActive: true, buffer: buffer))
    }

    /// Every stored property set here, none by a default value: with
    /// defaults the compiler builds the value aside, copies it into place
    /// and destroys the original (a retain and release of each reference),
    /// and the parser makes a data set for every file and sequence item.
    private init(parsed: ParsedElements) {
        self.stored = []
        self.parsed = parsed
        self.isUndefinedLengthItem = false
        self.itemOffset = nil
        self.characterSets = .standard
    }

    /// The elements in ascending tag order.
    public var elements: [DataElement] {
        guard parsed.isActive else { return stored }
        return parsed.entries.indices.map { parsed.element(at: $0) }
    }

    /// Room for `count` elements without regrowing (the parser's hint).
    mutating func reserveCapacity(_ count: Int) {
        if parsed.isActive { parsed.entries.reserveCapacity(count) } else { stored.reserveCapacity(count) }
    }

    /// The tag of the last element, if any (the parser's order check).
    var lastTag: Tag? {
        @inline(__always) get {
            if parsed.isActive { return parsed.entries.last?.tag }
            return stored.last?.tag
        }
    }

    /// Appends elements already known to be in strictly ascending order
    /// (the parser's fast path); falls back to sorted insertion otherwise.
    mutating func appendInOrder(_ element: consuming DataElement) {
        let tag = element.tag
        if let last = lastTag, last >= tag {
            set(element)
        } else if parsed.isActive {
            parsed.append(tag: tag, vr: element.vr, extra: element.value, undefinedLength: element.hasUndefinedLength)
            if tag == .specificCharacterSet { updateCharacterSet() }
        } else {
            stored.append(element)
            if tag == .specificCharacterSet { updateCharacterSet() }
        }
    }

    /// The parser's fastest path: a value that is `count` bytes of the
    /// buffer at `offset`, for a tag known to follow the last one. `bytes`:
    /// the same buffer's bytes, where a (0008,0005) value is read.
    @inline(__always)
    mutating func appendInOrder(tag: Tag, vr: VR, offset: Int, count: Int, of buffer: Data, bytes: UnsafeRawBufferPointer) {
        if parsed.isActive {
            parsed.entries.append(ParsedElements.Entry(tag: tag, vr: vr, undefinedLength: false, isExtra: false, offset: offset, count: count))
        } else {
            stored.append(DataElement(tag: tag, vr: vr, bytes: ParsedElements.slice(buffer, offset, count)))
        }
        if tag == .specificCharacterSet { updateCharacterSet(value: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])) }
    }

    /// The parser's read buffer, while the data set keeps its values there.
    @usableFromInline var parsedBuffer: Data? { parsed.isActive ? parsed.buffer : nil }

    @usableFromInline enum ParsedValue {
        case absent
        /// The value's bytes in ``parsedBuffer``.
        case inBuffer(Range<Int>, VR)
        /// A value kept apart (sequences, values the parser made), or a
        /// data set that does not keep parser entries.
        case elsewhere
    }

    /// Where the value of `tag` is: see ``ParsedValue``.
    @usableFromInline func parsedValue(_ tag: Tag) -> ParsedValue {
        guard parsed.isActive else { return .elsewhere }
        let (found, i) = parsed.index(of: tag)
        guard found else { return .absent }
        let entry = parsed.entries[i]
        return entry.isExtra ? .elsewhere : .inBuffer(entry.offset..<(entry.offset + entry.count), entry.vr)
    }

    /// The parser's entries for `body` to append to, in ascending tag
    /// order after ``lastTag`` (its run of plain elements); nil when the
    /// data set does not keep parser entries.
    @inline(__always)
    mutating func withParsedEntries<R>(_ body: (inout [ParsedElements.Entry]) -> R) -> R? {
        guard parsed.isActive else { return nil }
        return body(&parsed.entries)
    }

    /// Points the parser's entries at a longer read of the same bytes (a
    /// header read that went on with more of the file).
    mutating func rebase(onto buffer: Data) {
        if parsed.isActive { parsed.buffer = buffer }
    }

    /// Turns parser entries into stored elements before a mutation.
    private mutating func materialize() {
        guard parsed.isActive else { return }
        stored = parsed.entries.indices.map { parsed.element(at: $0) }
        parsed = ParsedElements()
    }

    public var count: Int { parsed.isActive ? parsed.entries.count : stored.count }
    public var isEmpty: Bool { count == 0 }
    public var tags: [Tag] { parsed.isActive ? parsed.entries.map(\.tag) : stored.map(\.tag) }

    private func index(of tag: Tag) -> (found: Bool, index: Int) {
        if parsed.isActive { return parsed.index(of: tag) }
        var low = 0, high = stored.count
        while low < high {
            let mid = (low + high) / 2
            let t = stored[mid].tag
            if t == tag { return (true, mid) }
            if t < tag { low = mid + 1 } else { high = mid }
        }
        return (false, low)
    }

    public subscript(tag: Tag) -> DataElement? {
        let (found, i) = index(of: tag)
        guard found else { return nil }
        if parsed.isActive { return parsed.element(at: i) }
        return stored[i]
    }

    public func contains(_ tag: Tag) -> Bool { index(of: tag).found }

    /// Calls `body` with the value bytes and the VR of the element at `tag`,
    /// read in place: no `DataElement` or `Data` slice is made, the cheapest
    /// way to look at a few values of many headers. Nil when the element is
    /// absent, a sequence or encapsulated pixel data.
    public func withValueBytes<Result>(_ tag: Tag, _ body: (UnsafeRawBufferPointer, VR) -> Result) -> Result? {
        let (found, i) = index(of: tag)
        guard found else { return nil }
        if parsed.isActive {
            let entry = parsed.entries[i]
            guard !entry.isExtra else {
                guard case .bytes(let data) = parsed.extras[entry.offset] else { return nil }
                return data.withUnsafeBytes { body($0, entry.vr) }
            }
            return parsed.buffer.withUnsafeBytes { raw in
                body(UnsafeRawBufferPointer(rebasing: raw[entry.offset..<(entry.offset + entry.count)]), entry.vr)
            }
        }
        guard case .bytes(let data) = stored[i].value else { return nil }
        return data.withUnsafeBytes { body($0, stored[i].vr) }
    }

    /// Inserts or replaces the element with the same tag.
    public mutating func set(_ element: DataElement) {
        materialize()
        let (found, i) = index(of: element.tag)
        if found { stored[i] = element } else { stored.insert(element, at: i) }
        if element.tag == .specificCharacterSet { updateCharacterSet() }
    }

    @discardableResult
    public mutating func remove(_ tag: Tag) -> DataElement? {
        let (found, i) = index(of: tag)
        guard found else { return nil }
        materialize()
        defer { if tag == .specificCharacterSet { updateCharacterSet() } }
        return stored.remove(at: i)
    }

    /// Removes every element for which `predicate` is true.
    public mutating func removeAll(where predicate: (DataElement) -> Bool) {
        materialize()
        stored.removeAll(where: predicate)
        updateCharacterSet()
    }

    /// The character set that applies to this data set's text values.
    public var characterSet: SpecificCharacterSet { ownCharacterSet ?? inheritedCharacterSet }

    private mutating func updateCharacterSet() {
        guard let index = withValueBytes(.specificCharacterSet, { raw, _ in Dataset.commonCharacterSetIndex(raw) }) else {
            ownCharacterSet = nil   // absent, or not a value
            return
        }
        updateCharacterSet(common: index)
    }

    /// The parser's update, from the value's bytes in its buffer.
    private mutating func updateCharacterSet(value: UnsafeRawBufferPointer) {
        updateCharacterSet(common: Dataset.commonCharacterSetIndex(value))
    }

    /// `index`: where the data set's (0008,0005) value is among the common
    /// ones, nil when it is not one of them.
    private mutating func updateCharacterSet(common index: Int?) {
        if let index {
            // A data set that inherits nothing (a file's top level) takes
            // the shared sets as they are: no set copied, nothing allocated.
            if characterSets === CharacterSets.standard {
                characterSets = Dataset.commonCharacterSets.shared[index]
            } else {
                ownCharacterSet = Dataset.commonCharacterSets.shared[index].own
            }
        } else {
            ownCharacterSet = self[.specificCharacterSet]?.bytes.map { SpecificCharacterSet(lenientTerms: DICOMText.splitDefaultRepertoire($0)) }
        }
    }

    /// The (0008,0005) values most files carry, parsed once: every header of
    /// a disc would otherwise parse the same terms again. Compared byte by
    /// byte, most common first (hashing a `Data` cost more than the search);
    /// values and sets apart, so the search copies no set. Each set is kept
    /// as the `CharacterSets` of a data set that inherits the default.
    private static let commonCharacterSets: (values: [[UInt8]], shared: [CharacterSets]) = {
        let terms = ["ISO_IR 100", "ISO_IR 192", "ISO_IR 6", "\\ISO 2022 IR 87", "ISO 2022 IR 6\\ISO 2022 IR 87",
                     "ISO 2022 IR 13\\ISO 2022 IR 87", "ISO_IR 13", "\\ISO 2022 IR 149", "GB18030", "ISO_IR 101", "ISO_IR 144"]
        var values: [[UInt8]] = []
        var shared: [CharacterSets] = []
        for term in terms {
            var bytes = Array(term.utf8)
            let set = SpecificCharacterSet(lenientTerms: DICOMText.splitDefaultRepertoire(Data(bytes)))
            let sets = CharacterSets(inherited: .default, own: set, forItems: CharacterSets(inherited: set, own: nil))
            values.append(bytes)
            shared.append(sets)
            if bytes.count % 2 == 1 {   // padded to even length
                bytes.append(0x20)
                values.append(bytes)
                shared.append(sets)
            }
        }
        return (values, shared)
    }()

    /// Where `raw` is among ``commonCharacterSets``' values.
    private static func commonCharacterSetIndex(_ raw: UnsafeRawBufferPointer) -> Int? {
        commonCharacterSets.values.withUnsafeBufferPointer { values in
            values.firstIndex { entry in
                entry.count == raw.count && entry.withUnsafeBytes { memcmp($0.baseAddress!, raw.baseAddress!, raw.count) } == 0
            }
        }
    }
}

// MARK: - Reading values

extension Dataset {
    /// The decoded text of a string element (all values, `\`-separated),
    /// with trailing padding removed. Undecodable bytes become U+FFFD; use
    /// ``decodedText(_:)`` to learn about them.
    public func string(_ tag: Tag) -> String? {
        guard let element = self[tag], let data = element.bytes else { return nil }
        return DICOMText.decode(data, vr: element.vr, characterSet: characterSet).text
    }

    /// The decoded text and any character-set problems found.
    public func decodedText(_ tag: Tag) -> (text: String, problems: [CharacterSetError])? {
        guard let element = self[tag], let data = element.bytes else { return nil }
        return DICOMText.decode(data, vr: element.vr, characterSet: characterSet)
    }

    /// Every text value in this data set and its items that its character
    /// set cannot decode (shown as U+FFFD wherever it is decoded), and the
    /// (0008,0005) terms it ignores, each with the path of tags to it:
    /// what `dump --json` and `--xml`, which have no room for notes, warn of.
    public func textProblems() -> [(path: [Tag], problem: CharacterSetError)] {
        var found: [(path: [Tag], problem: CharacterSetError)] = []
        func visit(_ dataset: Dataset, _ path: [Tag]) {
            for element in dataset.elements {
                switch element.value {
                case .bytes(let data) where element.vr.isString:
                    var problems = DICOMText.decode(data, vr: element.vr, characterSet: dataset.characterSet).problems
                    if element.tag == .specificCharacterSet { problems += dataset.characterSet.ignoredTermProblems }
                    found += problems.map { (path + [element.tag], $0) }
                case .sequence(let items):
                    for item in items { visit(item, path + [element.tag]) }
                default:
                    break
                }
            }
        }
        visit(self, [])
        return found
    }

    /// The values of a string element, split at `\` (except for LT, ST, UT,
    /// UR), each trimmed of padding as PS3.5 allows for its VR.
    public func strings(_ tag: Tag) -> [String] {
        guard let element = self[tag], let data = element.bytes else { return [] }
        let text = DICOMText.decode(data, vr: element.vr, characterSet: characterSet).text
        return DICOMText.values(of: text, vr: element.vr)
    }

    /// ``firstString(_:)`` the general way — decoded, split, trimmed —
    /// which it takes for values that are not plain ASCII (and tests
    /// compare it with).
    package func decodedFirstString(_ tag: Tag) -> String? {
        guard let element = self[tag], let data = element.bytes else { return nil }
        let text = DICOMText.decode(data, vr: element.vr, characterSet: characterSet).text
        if text.isEmpty { return nil }
        // The first value only: no array of all values (the hot path of
        // every header summary reads UIDs, IDs and dates this way).
        var first = Substring(text)
        if !element.vr.isSingleValuedText, let separator = text.utf8.firstIndex(of: 0x5C) {
            first = text[..<separator]
        }
        let value = DICOMText.trim(String(first), vr: element.vr)
        return value.isEmpty ? nil : value
    }

    /// Integer values of US, SS, UL, SL, UV, SV, IS (and AT as raw tags).
    public func integers(_ tag: Tag) -> [Int] {
        guard let element = self[tag], let data = element.bytes else { return [] }
        return DICOMBinary.integers(data, vr: element.vr)
    }

    public func integer(_ tag: Tag) -> Int? { integers(tag).first }

    /// Floating-point values of FL, FD, OF, OD, DS.
    public func doubles(_ tag: Tag) -> [Double] {
        guard let element = self[tag], let data = element.bytes else { return [] }
        return DICOMBinary.doubles(data, vr: element.vr)
    }

    /// The items of a sequence element; empty when absent.
    public func items(_ tag: Tag) -> [Dataset] { self[tag]?.items ?? [] }
}

// MARK: - Writing values

extension Dataset {
    /// Sets a string element, encoding `text` in this data set's character
    /// set. Pads to even length with the VR's padding byte.
    public mutating func setString(_ text: String, vr: VR, for tag: Tag) throws(CharacterSetError) {
        var bytes = vr.usesSpecificCharacterSet ? try characterSet.encode(text, vr: vr) : Array(text.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr.paddingByte) }
        set(DataElement(tag: tag, vr: vr, bytes: Data(bytes)))
    }

    /// Sets a multi-valued string element.
    public mutating func setStrings(_ values: [String], vr: VR, for tag: Tag) throws(CharacterSetError) {
        try setString(values.joined(separator: "\\"), vr: vr, for: tag)
    }

    /// Sets a US/SS/UL/SL/... element from integers (little endian).
    public mutating func setIntegers(_ values: [Int], vr: VR, for tag: Tag) {
        set(DataElement(tag: tag, vr: vr, bytes: DICOMBinary.encode(integers: values, vr: vr)))
    }

    public mutating func setSequence(_ items: [Dataset], for tag: Tag, undefinedLength: Bool = true) {
        set(DataElement(tag: tag, vr: .SQ, value: .sequence(items), hasUndefinedLength: undefinedLength))
    }
}

/// Internal: the elements of a parsed data set, each a tag, a VR and where
/// its value lies in the read buffer (or, for sequences, fragments and
/// byte-swapped values, an index into `extras`). Trivial entries: building
/// and freeing them costs no reference counting.
struct ParsedElements: Sendable {
    struct Entry: Sendable {
        var tag: Tag
        var vr: VR
        var undefinedLength: Bool
        /// `offset` indexes `extras` instead of the buffer.
        var isExtra: Bool
        var offset: Int
        var count: Int
    }

    /// The data set keeps its elements here, not in `stored`.
    var isActive = false
    /// The read buffer (empty when not active).
    var buffer = Data()
    var entries: [Entry] = []
    var extras: [DataElement.Value] = []

    /// The same slice the parser has always handed out.
    @inline(__always)
    static func slice(_ data: Data, _ start: Int, _ count: Int) -> Data {
        data[(data.startIndex + start)..<(data.startIndex + start + count)]
    }

    mutating func append(tag: Tag, vr: VR, extra value: DataElement.Value, undefinedLength: Bool) {
        entries.append(Entry(tag: tag, vr: vr, undefinedLength: undefinedLength, isExtra: true, offset: extras.count, count: 0))
        extras.append(value)
    }

    func element(at index: Int) -> DataElement {
        let entry = entries[index]
        let value: DataElement.Value = entry.isExtra ? extras[entry.offset] : .bytes(ParsedElements.slice(buffer, entry.offset, entry.count))
        return DataElement(tag: entry.tag, vr: entry.vr, value: value, hasUndefinedLength: entry.undefinedLength)
    }

    func index(of tag: Tag) -> (found: Bool, index: Int) {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            let t = entries[mid].tag
            if t == tag { return (true, mid) }
            if t < tag { low = mid + 1 } else { high = mid }
        }
        return (false, low)
    }
}

/// Internal: a data set's inherited and own Specific Character Set, immutable
/// and shared between copies.
final class CharacterSets: Sendable {
    let inherited: SpecificCharacterSet
    let own: SpecificCharacterSet?
    /// What the items of a data set with these sets inherit, made ahead
    /// for the shared common sets (nil: made when asked for).
    let forItems: CharacterSets?

    init(inherited: SpecificCharacterSet, own: SpecificCharacterSet?, forItems: CharacterSets? = nil) {
        self.inherited = inherited
        self.own = own
        self.forItems = forItems
    }

    /// What items inherit: these sets when there is no own set, else the
    /// own set as the inherited one (``forItems`` when made ahead).
    var forItemsOrMade: CharacterSets {
        guard let own else { return self }
        return forItems ?? CharacterSets(inherited: own, own: nil)
    }

    static let standard = CharacterSets(inherited: .default, own: nil)
}
