import DICOM
import Foundation

/// One directory record of a DICOMDIR (PS3.3 Annex F): its type, what it
/// references, and the keys discport compares with the files.
///
/// Records are kept flat, in the order of the Directory Record Sequence;
/// the tree is ``children`` (indices into ``DICOMDirectory/records``).
public struct DirectoryRecord: Sendable {
    /// What a record type means for the patient → study → series → instance tree.
    public enum Level: String, Sendable, Hashable, Codable {
        case patient, study, series
        /// IMAGE, SR DOCUMENT, ENCAP DOC, PRESENTATION, RT …: one instance.
        case instance
        /// A standard record outside that tree (HANGING PROTOCOL, PALETTE,
        /// IMPLANT, VISIT, RESULTS, TOPIC, …): kept, not interpreted.
        case other
        /// PRIVATE or a type the standard does not define: skipped.
        case unknown
    }

    /// Position in the Directory Record Sequence.
    public var index: Int
    /// Byte offset of the record's item tag from the start of the file.
    public var offset: Int
    /// (0004,1430) Directory Record Type as written (`IMAGE`, `PRIVATE`, …).
    public var type: String
    public var level: Level
    /// (0004,1410) Record In-use Flag is not 0000H.
    public var isInUse: Bool
    /// (0004,1400) Offset of the Next Directory Record (0: none).
    public var nextOffset: Int
    /// (0004,1420) Offset of Referenced Lower-Level Directory Entity (0: none).
    public var lowerOffset: Int
    /// (0004,1500) Referenced File ID: the path components.
    public var referencedFileID: [String] {
        get { fileID.isEmpty ? [] : fileID.utf8.split(separator: 0x5C, omittingEmptySubsequences: false).map { String(Substring($0)) } }
        set { fileID = DirectoryRecord.fileIDValue(newValue) }
    }
    /// The components joined by `\`, as the value is written: one string
    /// (one allocation) per record rather than an array of them.
    fileprivate(set) var fileID: String

    /// ``fileID`` of `components`: empty when they say nothing.
    fileprivate static func fileIDValue(_ components: [String]) -> String {
        components.allSatisfy(\.isEmpty) ? "" : components.joined(separator: "\\")
    }
    /// The record references a file.
    public var hasReferencedFileID: Bool { !fileID.isEmpty }
    /// (0004,1510), (0004,1511), (0004,1512).
    public var referencedSOPClassUID: String?
    public var referencedSOPInstanceUID: String?
    public var referencedTransferSyntaxUID: String?

    // Keys (PS3.3 Tables F.5-1 to F.5-4) that the scan compares with the
    // files: those of the record's level, nil for the others.
    public var patientID: String? { if case .patient(let id, _) = keys { id } else { nil } }
    public var patientName: String? { if case .patient(_, let name) = keys { name } else { nil } }
    public var studyInstanceUID: String? { if case .study(let uid, _, _, _, _) = keys { uid } else { nil } }
    public var studyDate: String? { if case .study(_, let date, _, _, _) = keys { date } else { nil } }
    public var studyTime: String? { if case .study(_, _, let time, _, _) = keys { time } else { nil } }
    public var studyID: String? { if case .study(_, _, _, let id, _) = keys { id } else { nil } }
    public var studyDescription: String? { if case .study(_, _, _, _, let description) = keys { description } else { nil } }
    public var seriesInstanceUID: String? { if case .series(let uid, _, _) = keys { uid } else { nil } }
    public var modality: String? { if case .series(_, let modality, _) = keys { modality } else { nil } }
    public var seriesNumber: String? { if case .series(_, _, let number) = keys { number } else { nil } }
    public var instanceNumber: String? { if case .instance(let number) = keys { number } else { nil } }
    /// Only the keys of the record's level are held: eleven optional
    /// strings per record were 176 bytes, of a scan's tens of thousands.
    fileprivate var keys: Keys

    fileprivate enum Keys: Sendable {
        case patient(id: String?, name: String?)
        case study(uid: String?, date: String?, time: String?, id: String?, description: String?)
        case series(uid: String?, modality: String?, number: String?)
        case instance(number: String?)
        case none
    }

    /// Indices of the records one level down, in order.
    public var children: [Int] = []
    /// The record item as read (every key, for `discport verify`); empty
    /// when the directory was read without them (a scan compares only the
    /// keys above).
    public var attributes: Dataset {
        get { attributeBox?.dataset ?? Dataset() }
        set { attributeBox = newValue.isEmpty ? nil : AttributeBox(dataset: newValue) }
    }
    /// The item behind one reference: a data set is 80 bytes, and a scan
    /// holds tens of thousands of records that do not keep theirs.
    fileprivate var attributeBox: AttributeBox?

    fileprivate final class AttributeBox: Sendable {
        let dataset: Dataset
        init(dataset: Dataset) { self.dataset = dataset }
    }
}

/// A DICOMDIR read into a record tree, with everything wrong with it.
///
/// Offsets are hints: when they do not point at records (a constant shift,
/// zeros, garbage) the tree is rebuilt from the order of the records,
/// PATIENT > STUDY > SERIES > instance, which is how every writer lays them
/// out. Loops end where they close. Inactive, PRIVATE and unknown records
/// are skipped. Every problem is recorded with a ``ProblemCode``.
public struct DICOMDirectory: Sendable {
    /// How the tree was obtained.
    public enum TreeSource: String, Sendable, Hashable, Codable {
        /// The offsets were right.
        case offsets
        /// Every offset was off by the same amount; corrected.
        case correctedOffsets = "corrected-offsets"
        /// The offsets were unusable; rebuilt from the record order.
        case recordOrder = "record-order"
        /// There are no records.
        case empty
    }

    /// Path of the DICOMDIR on the medium.
    public var path: String
    /// (0004,1130) File-set ID.
    public var fileSetID: String?
    /// The transfer syntax the DICOMDIR was read with.
    public var transferSyntaxUID: String
    /// Every record, in sequence order.
    public var records: [DirectoryRecord]
    /// Top-level records (PATIENT, and root-level types such as HANGING PROTOCOL).
    public var roots: [Int]
    public var treeSource: TreeSource
    /// Written offsets minus true offsets (−132: computed without the
    /// preamble and `DICM`); 0 when they were right or unusable.
    public var offsetShift: Int
    /// Records with Record In-use Flag 0000H.
    public var inactiveRecords: Int
    /// Records left out of the tree: inactive, PRIVATE or unknown, and
    /// what hangs below them.
    public var skippedRecords: Int
    public var problems: [ScanProblem]

    /// Where the records reference files from: the folder holding the
    /// DICOMDIR, `""` at the top of the medium.
    public var folder: String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    /// Media Storage Directory Storage (PS3.4 Annex F).
    public static let sopClassUID = "1.2.840.10008.1.3.10"

    /// Reads a DICOMDIR already parsed (fully, or in header mode, which
    /// reads all of a file without pixel data).
    ///
    /// `data`, the whole file, lets a damaged DICOMDIR (a sequence or item
    /// length that is wrong) be salvaged by walking its items one by one.
    /// `keepingAttributes` false leaves every record's
    /// ``DirectoryRecord/attributes`` empty: each record item (and at the
    /// end the buffer of the whole file) is freed as soon as its record is
    /// made, rather than held as long as the directory.
    public init(file: DICOMFile, path: String, data: Data? = nil, keepingAttributes: Bool = true) {
        var reader = DirectoryReader(path: path)
        reader.keepsAttributes = keepingAttributes
        self = reader.read(consume file, data: data)
    }

    /// Reads a DICOMDIR from its bytes, each record made as its item is
    /// parsed (``DICOM/DICOMFile/init(data:options:path:handingItemsOf:to:)``):
    /// the items are never all held as data sets at once. A DICOMDIR that
    /// cannot be parsed at all yields an empty directory with a
    /// `dicomdir-unreadable` problem.
    public init(data: Data, path: String, keepingAttributes: Bool = true) {
        var reader = DirectoryReader(path: path)
        reader.keepsAttributes = keepingAttributes
        do throws(DICOMError) {
            let parsed = try DICOMFile(data: data, options: DirectoryReader.readOptions, path: path,
                                       handingItemsOf: .directoryRecordSequence) { reader.take($0) }
            let damaged = parsed.error != nil
            self = reader.read(consume parsed, data: damaged ? data : nil)
        } catch {
            self.init(unreadable: path, error.message)
        }
    }

    /// Reads a DICOMDIR from a medium file (whole: it has no pixel data to
    /// stop before), as ``init(data:path:keepingAttributes:)``.
    public init(file: MediumFile) {
        do throws(MediaError) {
            self.init(data: try file.readPrefix(file.size), path: file.path)
        } catch {
            self.init(unreadable: file.path, "cannot be read from the medium: \(error.message)")
        }
    }

    init(unreadable path: String, _ message: String) {
        self.path = path
        fileSetID = nil
        transferSyntaxUID = ""
        records = []
        roots = []
        treeSource = .empty
        offsetShift = 0
        inactiveRecords = 0
        skippedRecords = 0
        problems = [ScanProblem(.dicomdirUnreadable, .error, path: path, "the DICOMDIR cannot be read: \(message); the files were found by scanning the medium")]
    }

    /// Every active instance record in tree order, with the records above it.
    public func instanceEntries() -> [InstanceEntry] {
        var out: [InstanceEntry] = []
        out.reserveCapacity(records.count)   // most records are instances: one allocation, not a doubling series
        var stack: [(index: Int, patient: Int?, study: Int?, series: Int?)] = roots.reversed().map { ($0, nil, nil, nil) }
        // Records are read in place (`records[index].…`), never copied out:
        // a copy retains its twenty strings and its data set.
        while let (index, patient, study, series) = stack.popLast() {
            var p = patient, st = study, se = series
            switch records[index].level {
            case .patient: p = index
            case .study: st = index
            case .series: se = index
            case .instance: out.append(InstanceEntry(record: index, patient: p, study: st, series: se))
            case .other, .unknown: break
            }
            for child in records[index].children.reversed() { stack.append((child, p, st, se)) }
        }
        return out
    }

    /// Every record that references a file (active, in the tree or skipped
    /// as PRIVATE/unknown), for telling which files the DICOMDIR lists.
    public var referencingRecords: [Int] {
        records.indices.filter { records[$0].isInUse && records[$0].hasReferencedFileID }
    }

    /// An instance record and its ancestors (indices into ``records``).
    public struct InstanceEntry: Sendable, Hashable {
        public var record: Int
        public var patient: Int?
        public var study: Int?
        public var series: Int?
    }

    /// Counts by level of the active records in the tree.
    public var counts: (patients: Int, studies: Int, series: Int, instances: Int) {
        var counts = (0, 0, 0, 0)
        var stack = roots
        while let index = stack.popLast() {
            switch records[index].level {
            case .patient: counts.0 += 1
            case .study: counts.1 += 1
            case .series: counts.2 += 1
            case .instance: counts.3 += 1
            default: break
            }
            stack += records[index].children
        }
        return counts
    }
}

// MARK: - Reading

/// Record types of PS3.3 Table F.4-1 (current and retired).
enum RecordTypes {
    static let instance: Set<String> = [
        "IMAGE", "RT DOSE", "RT STRUCTURE SET", "RT PLAN", "RT TREAT RECORD", "PRESENTATION", "WAVEFORM",
        "SR DOCUMENT", "KEY OBJECT DOC", "SPECTROSCOPY", "RAW DATA", "REGISTRATION", "FIDUCIAL",
        "ENCAP DOC", "HL7 STRUC DOC", "VALUE MAP", "STEREOMETRIC", "MEASUREMENT", "SURFACE", "SURFACE SCAN",
        "TRACT", "ASSESSMENT", "RADIOTHERAPY", "ANNOTATION", "PLAN", "INVENTORY",
        "OVERLAY", "MODALITY LUT", "VOI LUT", "CURVE", "STORED PRINT",
    ]
    static let other: Set<String> = [
        "HANGING PROTOCOL", "PALETTE", "IMPLANT", "IMPLANT ASSY", "IMPLANT GROUP",
        "VISIT", "RESULTS", "INTERPRETATION", "STUDY COMPONENT", "TOPIC", "MRDR",
    ]

    static func level(of type: String) -> DirectoryRecord.Level {
        switch type {
        case "PATIENT": return .patient
        case "STUDY": return .study
        case "SERIES": return .series
        case _ where instance.contains(type): return .instance
        case _ where other.contains(type): return .other
        default: return .unknown
        }
    }

    /// The level a record of `level` hangs under (nil: the root).
    static func parentLevel(of level: DirectoryRecord.Level) -> DirectoryRecord.Level? {
        switch level {
        case .patient: return nil
        case .study: return .patient
        case .series: return .study
        case .instance: return .series
        case .other, .unknown: return nil
        }
    }
}

extension PlainReader {
    /// An unsigned integer of a UL/US element, also when an implicit-VR
    /// reader without the dictionary left it UN (4 or 2 little-endian bytes).
    func directoryInteger(_ tag: Tag) -> Int? {
        // The first value as `integer(tag)` reads it (little endian, the
        // parser has swapped big-endian values), straight from the bytes.
        let value = withValueBytes(tag) { raw, vr -> Int? in
            func u16() -> UInt16 { UInt16(raw[0]) | UInt16(raw[1]) << 8 }
            func u32() -> UInt32 { UInt32(raw[0]) | UInt32(raw[1]) << 8 | UInt32(raw[2]) << 16 | UInt32(raw[3]) << 24 }
            switch vr {
            case .UL: return raw.count >= 4 ? Int(u32()) : nil
            case .SL: return raw.count >= 4 ? Int(Int32(bitPattern: u32())) : nil
            case .US: return raw.count >= 2 ? Int(u16()) : nil
            case .SS: return raw.count >= 2 ? Int(Int16(bitPattern: u16())) : nil
            default:
                if raw.count == 4 { return Int(u32()) }
                if raw.count == 2 { return Int(u16()) }
                return nil
            }
        }
        return value ?? nil
    }

    /// The first string value, trimmed of NUL and space padding at both ends
    /// (UN-safe); nil when absent or empty.
    func directoryString(_ tag: Tag) -> String? {
        scanDirectoryString(tag)
    }
}

extension Dataset {
    func directoryInteger(_ tag: Tag) -> Int? { withPlainReader { $0.directoryInteger(tag) } }
    func directoryString(_ tag: Tag) -> String? { withPlainReader { $0.directoryString(tag) } }
}

/// The one-shot reader behind ``DICOMDirectory/init(file:path:data:keepingAttributes:)``
/// and ``DICOMDirectory/init(data:path:keepingAttributes:)``.
///
/// Records are made from the items of the Directory Record Sequence either
/// as the parser hands them over (``take(_:)``, from
/// ``DICOM/DICOMFile/init(data:options:path:handingItemsOf:to:)``: one item
/// in memory at a time) or, from a file parsed whole, in ``read(_:data:)``.
struct DirectoryReader {
    let path: String
    /// Whether records keep their item (``DirectoryRecord/attributes``).
    var keepsAttributes = true
    /// Records made from the items handed over so far, in sequence order.
    var takenRecords: [DirectoryRecord] = []
    /// One String per distinct SOP Class / Transfer Syntax UID of the records.
    var uids = UIDInterner()
    var problems: [ScanProblem] = []
    /// Per-code count of per-record problems, to cap the list.
    var perRecordCounts: [ProblemCode: Int] = [:]
    static let perRecordLimit = 50

    init(path: String) { self.path = path }

    /// A DICOMDIR is read lenient (a fault keeps the records before it) and
    /// in header mode (a stray Pixel Data element ends the read).
    static let readOptions = ReadOptions(stopBeforePixelData: true, lenient: true)

    /// Makes the record of the next item of the Directory Record Sequence;
    /// the item (its elements, not the file's buffer) goes when this returns.
    mutating func take(_ item: consuming Dataset) {
        let index = takenRecords.count
        takenRecords.append(DirectoryReader.makeRecord(item, index: index, keepingAttributes: keepsAttributes, uids: &uids))
    }

    mutating func problem(_ code: ProblemCode, _ severity: ProblemSeverity, _ message: String) {
        problems.append(ScanProblem(code, severity, path: path, message))
    }

    /// A per-record problem; after ``perRecordLimit`` of one code, counted only.
    mutating func recordProblem(_ code: ProblemCode, _ severity: ProblemSeverity, _ message: String) {
        let n = perRecordCounts[code, default: 0] + 1
        perRecordCounts[code] = n
        if n <= DirectoryReader.perRecordLimit { problem(code, severity, message) }
    }

    /// Reads the records: those ``take(_:)`` made, or else those of the
    /// items in `file`. `file` is consumed: its parsed items (a data set
    /// per record, over the buffer of the whole DICOMDIR) are released one
    /// by one as their records are made, not held to the end.
    mutating func read(_ file: consuming DICOMFile, data: Data? = nil) -> DICOMDirectory {
        let hasFileMeta = file.hasFileMeta
        let transferSyntax = file.transferSyntax
        let fileError = file.error
        let datasetOffset = file.datasetOffset
        let dataset = file.dataset
        _ = consume file
        if !hasFileMeta {
            problem(.dicomdirNoMeta, .warning, "the DICOMDIR has no Part 10 header (preamble, DICM, file meta information)")
        }
        if !transferSyntax.isExplicitVR {
            problem(.dicomdirImplicitVR, .warning, "the DICOMDIR is implicit VR little endian; PS3.10 requires explicit VR little endian (read anyway)")
        } else if transferSyntax.isBigEndian {
            problem(.dicomdirBigEndian, .warning, "the DICOMDIR is explicit VR big endian; PS3.10 requires explicit VR little endian (read anyway)")
        }
        if dataset.directoryInteger(.fileSetConsistencyFlag) == 0xFFFF {
            problem(.dicomdirInconsistent, .warning, "File-set Consistency Flag is FFFFH: the writer left the file-set inconsistent")
        }

        var items = recordItems(dataset, transferSyntax: transferSyntax)
        var records: [DirectoryRecord] = []
        swap(&records, &takenRecords)
        if let error = fileError {
            let fault = "\(error.message)\(error.offset.map { " (byte \($0))" } ?? "")"
            let salvaged = data == nil || transferSyntax.isBigEndian ? []
                : DirectoryReader.salvageItems(data!, from: datasetOffset, explicit: transferSyntax.isExplicitVR)
            if salvaged.count > max(items.count, records.count) {
                problem(.dicomdirDamaged, .error, "the DICOMDIR is damaged: \(fault); its \(salvaged.count) records were recovered by reading them one by one")
                items = salvaged
                records = []
            } else {
                problem(.dicomdirDamaged, .error, "reading stopped at a fault, records after it are lost: \(fault)")
            }
        }
        let rootFirst = dataset.directoryInteger(.offsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity) ?? 0
        let rootLast = dataset.directoryInteger(.offsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity) ?? 0
        let fileSetID = dataset.directoryString(.fileSetID)
        let hasRecordSequence = dataset[.directoryRecordSequence] != nil
        _ = consume dataset

        if records.isEmpty {
            records.reserveCapacity(items.count)
            for index in items.indices {
                records.append(DirectoryReader.makeRecord(items[index], index: index, keepingAttributes: keepsAttributes, uids: &uids))
                items[index] = Dataset()   // its elements go now, not with the last record
            }
        }
        items = []

        var result = DICOMDirectory(unreadable: path, "")
        result.problems = []
        result.fileSetID = fileSetID
        result.transferSyntaxUID = transferSyntax.uid
        result.inactiveRecords = records.indices.reduce(0) { $0 + (records[$1].isInUse ? 0 : 1) }

        if records.isEmpty {
            if !hasRecordSequence && fileError == nil {
                problem(.dicomdirEmpty, .warning, "the DICOMDIR has no Directory Record Sequence (0004,1220)")
            } else if fileError == nil {
                problem(.dicomdirEmpty, .warning, "the DICOMDIR has no records (PS3.11 does not allow an empty DICOMDIR)")
            }
            result.records = []
            result.treeSource = .empty
            result.problems = problems
            return result
        }

        for index in records.indices where !records[index].isInUse {
            recordProblem(.dicomdirInactiveRecord, .info, "\(describe(records[index])) is marked inactive (Record In-use Flag 0000H) and was skipped")
        }
        for index in records.indices where records[index].isInUse && records[index].level == .unknown {
            let record = records[index]
            let kind = record.type == "PRIVATE" ? "a PRIVATE record" : record.type.isEmpty ? "a record without a type" : "an unknown record type \"\(record.type)\""
            recordProblem(.dicomdirUnknownRecord, .warning, "\(describe(record)) is \(kind); skipped with what hangs below it")
        }

        // Offsets first; the record order when they are unusable.
        // The tree's copy of the records ends here: the records are changed below.
        let linked: OffsetTree.Outcome = {
            var tree = OffsetTree(records: records, rootFirst: rootFirst, rootLast: rootLast)
            return tree.build()
        }()
        var source: DICOMDirectory.TreeSource = .offsets
        var roots: [Int]
        var children: [[Int]]
        switch linked {
        case .linked(let r, let c, let shift, let report):
            let orphanCount = report.unreached.count
            // The record order is only asked when the links are broken.
            let order = report.loops > 0 || orphanCount > 0 ? OrderTree.build(records) : nil
            if let order, order.orphans.isEmpty && order.placed > report.placed {
                // A broken link structure that the record order explains fully.
                if report.loops > 0 {
                    problem(.dicomdirOffsetLoop, .warning, "record offsets form a loop (\(report.loops) link\(report.loops == 1 ? "" : "s") back to a record already visited); the tree was rebuilt from the order of the records")
                }
                if orphanCount > 0 {
                    problem(.dicomdirWrongOffsets, .warning, "\(orphanCount) active record\(orphanCount == 1 ? " is" : "s are") not reachable through the offsets; the tree was rebuilt from the order of the records")
                }
                roots = order.roots
                children = order.children
                source = .recordOrder
            } else {
                roots = r
                children = c
                if shift != 0 {
                    source = .correctedOffsets
                    result.offsetShift = shift
                    problem(.dicomdirWrongOffsets, .warning, "every record offset is \(abs(shift)) bytes too \(shift < 0 ? "small" : "large")\(shift == -132 ? " (computed without the 128-byte preamble and DICM, a known vendor bug)" : ""); corrected")
                }
                if report.loops > 0 {
                    problem(.dicomdirOffsetLoop, .warning, "record offsets form a loop (\(report.loops) link\(report.loops == 1 ? "" : "s") back to a record already visited); the loop was cut")
                }
                if report.tooDeep {
                    problem(.dicomdirOffsetLoop, .warning, "lower-level offsets nest deeper than \(OffsetTree.maximumDepth) levels; cut there")
                }
                if orphanCount > 0 {
                    let first = report.unreached.prefix(5).map { describe(records[$0]) }.joined(separator: ", ")
                    problem(.dicomdirOrphanRecord, .warning, "\(orphanCount) active record\(orphanCount == 1 ? " is" : "s are") not reachable from the root records: \(first)\(orphanCount > 5 ? ", …" : "")")
                }
            }
        case .unusable(let reason):
            let order = OrderTree.build(records)
            roots = order.roots
            children = order.children
            source = .recordOrder
            problem(.dicomdirWrongOffsets, .warning, "\(reason); the tree was rebuilt from the order of the records")
            if !order.orphans.isEmpty {
                let first = order.orphans.prefix(5).map { describe(records[$0]) }.joined(separator: ", ")
                problem(.dicomdirOrphanRecord, .warning, "\(order.orphans.count) record\(order.orphans.count == 1 ? " has" : "s have") no record of the level above before \(order.orphans.count == 1 ? "it" : "them"): \(first)\(order.orphans.count > 5 ? ", …" : "")")
            }
        }

        // Drop inactive and unknown records with their subtrees; check placement.
        var skipped = 0
        var keptRoots: [Int] = []
        var stack: [(index: Int, parent: Int?)] = []
        for root in roots.reversed() { stack.append((root, nil)) }
        var keptChildren = [[Int]](repeating: [], count: records.count)
        var visitedInTree = [Bool](repeating: false, count: records.count)
        // Breadth of the stack is bounded by the record count: every record is visited once.
        var order: [(Int, Int?)] = []
        while let (index, parent) = stack.popLast() {
            guard !visitedInTree[index] else { continue }
            visitedInTree[index] = true
            if !records[index].isInUse || records[index].level == .unknown {
                skipped += countSubtree(index, children: children, seen: &visitedInTree)
                continue
            }
            order.append((index, parent))
            for child in children[index].reversed() { stack.append((child, index)) }
        }
        for (index, parent) in order {
            let level = records[index].level
            let parentLevel = parent.map { records[$0].level }
            if level != .other, RecordTypes.parentLevel(of: level) != parentLevel {
                recordProblem(.dicomdirMisplacedRecord, .warning, "\(describe(records[index])) is \(parentLevel.map { "under a \($0.rawValue.uppercased()) record" } ?? "at the root"); expected \(RecordTypes.parentLevel(of: level).map { "under a \($0.rawValue.uppercased()) record" } ?? "at the root")")
            }
            if let parent { keptChildren[parent].append(index) } else { keptRoots.append(index) }
        }
        for index in records.indices { records[index].children = keptChildren[index] }
        // Only the records kept in the tree are checked for keys.
        for (index, _) in order { checkKeys(records[index]) }

        result.records = records
        result.roots = keptRoots
        result.treeSource = source
        result.skippedRecords = skipped
        if source == .recordOrder { result.offsetShift = 0 }
        for (code, count) in perRecordCounts where count > DirectoryReader.perRecordLimit {
            problem(code, code == .dicomdirInactiveRecord ? .info : .warning, "\(count - DirectoryReader.perRecordLimit) more records with the same problem")
        }
        result.problems = problems
        return result
    }

    /// Records of a subtree (itself included), marking them seen.
    private func countSubtree(_ index: Int, children: [[Int]], seen: inout [Bool]) -> Int {
        var count = 0
        var stack = [index]
        seen[index] = false
        while let i = stack.popLast() {
            guard !seen[i] else { continue }
            seen[i] = true
            count += 1
            stack += children[i]
        }
        return count
    }

    func describe(_ record: DirectoryRecord) -> String {
        let type = record.type.isEmpty ? "record" : "\(record.type) record"
        return "\(type) #\(record.index + 1) at byte \(record.offset)"
    }

    /// The record items, also from an implicit-VR DICOMDIR read without a
    /// data dictionary (the sequence then arrives as UN bytes).
    private mutating func recordItems(_ dataset: Dataset, transferSyntax: TransferSyntax) -> [Dataset] {
        guard let element = dataset[.directoryRecordSequence] else { return [] }
        if let items = element.items { return items }
        guard let bytes = element.bytes, !transferSyntax.isExplicitVR || element.vr == .UN else { return [] }
        return DirectoryReader.implicitItems(bytes, bigEndian: false)
    }

    /// Items of a defined-length sequence value held as bytes; their offsets
    /// from the value's index in the file buffer (Data slices keep indices).
    static func implicitItems(_ bytes: Data, bigEndian: Bool) -> [Dataset] {
        walkItems([UInt8](bytes), from: 0, base: bytes.startIndex)
    }

    /// The record items of a DICOMDIR whose sequence or item lengths are
    /// wrong: finds (0004,1220) in the raw file and reads item after item,
    /// each by its own length, until something that is not an item.
    static func salvageItems(_ data: Data, from datasetOffset: Int, explicit: Bool) -> [Dataset] {
        let raw = [UInt8](data)
        let pattern: [UInt8] = [0x04, 0x00, 0x20, 0x12]
        var i = max(0, datasetOffset)
        while i + 12 <= raw.count {
            if raw[i] == pattern[0], raw[i + 1] == pattern[1], raw[i + 2] == pattern[2], raw[i + 3] == pattern[3] {
                let valueStart = explicit && raw[i + 4] == 0x53 && raw[i + 5] == 0x51 ? i + 12 : i + 8
                return walkItems(raw, from: valueStart, base: 0)
            }
            i += 1
        }
        return []
    }

    /// Reads items from `start` in `raw` (`base` + position = file offset).
    /// Undefined-length items end at the first item delimiter.
    static func walkItems(_ raw: [UInt8], from start: Int, base: Int) -> [Dataset] {
        var items: [Dataset] = []
        var position = start
        func u32(_ at: Int) -> Int { Int(UInt32(raw[at]) | UInt32(raw[at + 1]) << 8 | UInt32(raw[at + 2]) << 16 | UInt32(raw[at + 3]) << 24) }
        func u16(_ at: Int) -> Int { Int(UInt16(raw[at]) | UInt16(raw[at + 1]) << 8) }
        while position + 8 <= raw.count {
            guard u16(position) == 0xFFFE, u16(position + 2) == 0xE000 else { break }
            let length = u32(position + 4)
            let contentStart = position + 8
            let contentEnd: Int
            let next: Int
            if length == 0xFFFF_FFFF {
                var j = contentStart
                while j + 8 <= raw.count, !(u16(j) == 0xFFFE && u16(j + 2) == 0xE00D) { j += 2 }
                guard j + 8 <= raw.count else { break }
                contentEnd = j
                next = j + 8
            } else if contentStart + length > raw.count {
                // The file ends inside the item (its length wrong, or the
                // file cut): a record all the same when its elements, read
                // to the end of the file, include a Directory Record Type
                // (pydicom's DICOMDIR-nooffset: the last item 24 bytes long
                // past the end, its elements whole); the last one either way.
                var cut = (try? DICOMFile(data: Data(raw[min(contentStart, raw.count)...]), options: ReadOptions(lenient: true)))?.dataset ?? Dataset()
                if cut.string(.directoryRecordType) != nil {
                    cut.itemOffset = base + position
                    items.append(cut)
                }
                break
            } else {
                contentEnd = contentStart + length
                next = contentStart + length
            }
            var item = (try? DICOMFile(data: Data(raw[contentStart..<contentEnd]), options: ReadOptions(lenient: true)))?.dataset ?? Dataset()
            item.itemOffset = base + position
            items.append(item)
            position = next
        }
        return items
    }

    /// One String per distinct SOP Class / Transfer Syntax UID of the
    /// records (thousands of records name the same few): the first few
    /// are compared byte for byte, only further ones hashed.
    struct UIDInterner {
        var known: Set<ExactString> = []
        var first: [String] = []
        mutating func intern(_ uid: String?) -> String? {
            guard let uid else { return nil }
            for candidate in first where sameBytes(candidate, uid) { return candidate }
            let interned = known.insert(ExactString(value: uid)).memberAfterInsert.value
            if first.count < 8 { first.append(interned) }
            return interned
        }
    }

    private static func makeRecord(_ record: borrowing Dataset, index: Int, keepingAttributes: Bool, uids: inout UIDInterner) -> DirectoryRecord {
        record.withPlainReader { item in makeRecord(item, index: index, keepingAttributes: keepingAttributes, uids: &uids) }
    }

    /// The record's keys, read from its parser buffer.
    private static func makeRecord(_ item: PlainReader, index: Int, keepingAttributes: Bool, uids: inout UIDInterner) -> DirectoryRecord {
        let type = (item.directoryString(.directoryRecordType) ?? "").uppercased()
        let level = RecordTypes.level(of: type)
        let keys: DirectoryRecord.Keys
        switch level {
        case .patient:
            keys = .patient(id: item.directoryString(.patientID), name: item.directoryString(.patientName))
        case .study:
            keys = .study(uid: item.directoryString(.studyInstanceUID), date: item.directoryString(.studyDate), time: item.directoryString(.studyTime),
                          id: item.directoryString(.studyID), description: item.directoryString(.studyDescription))
        case .series:
            keys = .series(uid: item.directoryString(.seriesInstanceUID), modality: item.directoryString(.modality),
                           number: item.directoryString(.seriesNumber))
        case .instance:
            keys = .instance(number: item.directoryString(.instanceNumber))
        case .other, .unknown:
            keys = .none
        }
        return DirectoryRecord(
            index: index,
            offset: item.dataset.itemOffset ?? -1,
            type: type,
            level: level,
            isInUse: item.directoryInteger(.recordInUseFlag) != 0,
            nextOffset: item.directoryInteger(.offsetOfTheNextDirectoryRecord) ?? 0,
            lowerOffset: item.directoryInteger(.offsetOfReferencedLowerLevelDirectoryEntity) ?? 0,
            fileID: item.scanPlainFileID(.referencedFileID)
                ?? DirectoryRecord.fileIDValue(item.scanFileIDComponents(.referencedFileID)),
            referencedSOPClassUID: uids.intern(item.directoryString(.referencedSOPClassUIDInFile)),
            referencedSOPInstanceUID: item.directoryString(.referencedSOPInstanceUIDInFile),
            referencedTransferSyntaxUID: uids.intern(item.directoryString(.referencedTransferSyntaxUIDInFile)),
            keys: keys,
            attributeBox: keepingAttributes && !item.dataset.isEmpty ? DirectoryRecord.AttributeBox(dataset: item.dataset) : nil
        )
    }

    /// Type 1 keys of PS3.3 Tables F.5-1 to F.5-4 (and the 1C references of
    /// instance records). Identity keys are warnings; the rest informational.
    private mutating func checkKeys(_ record: DirectoryRecord) {
        var missing: [(String, ProblemSeverity)] = []
        switch record.level {
        case .patient:
            if record.patientID == nil { missing.append(("Patient ID (0010,0020)", .warning)) }
        case .study:
            if record.studyInstanceUID == nil { missing.append(("Study Instance UID (0020,000D)", .warning)) }
            if record.studyDate == nil { missing.append(("Study Date (0008,0020)", .info)) }
            if record.studyTime == nil { missing.append(("Study Time (0008,0030)", .info)) }
            if record.studyID == nil { missing.append(("Study ID (0020,0010)", .info)) }
        case .series:
            if record.seriesInstanceUID == nil { missing.append(("Series Instance UID (0020,000E)", .warning)) }
            if record.modality == nil { missing.append(("Modality (0008,0060)", .info)) }
            if record.seriesNumber == nil { missing.append(("Series Number (0020,0011)", .info)) }
        case .instance:
            if !record.hasReferencedFileID { missing.append(("Referenced File ID (0004,1500)", .warning)) }
            else {
                if record.referencedSOPInstanceUID == nil { missing.append(("Referenced SOP Instance UID in File (0004,1511)", .warning)) }
                if record.referencedSOPClassUID == nil { missing.append(("Referenced SOP Class UID in File (0004,1510)", .info)) }
                if record.referencedTransferSyntaxUID == nil { missing.append(("Referenced Transfer Syntax UID in File (0004,1512)", .info)) }
            }
            if record.type != "HL7 STRUC DOC", record.instanceNumber == nil { missing.append(("Instance Number (0020,0013)", .info)) }
        case .other, .unknown:
            break
        }
        guard !missing.isEmpty else { return }
        let severity: ProblemSeverity = missing.contains { $0.1 == .warning } ? .warning : .info
        recordProblem(.dicomdirMissingKey, severity, "\(describe(record)) lacks \(missing.map(\.0).joined(separator: ", "))")
    }
}

// MARK: - Trees

/// The tree the offsets describe, with loop detection.
struct OffsetTree {
    let records: [DirectoryRecord]
    let rootFirst: Int
    let rootLast: Int
    static let maximumDepth = 16

    struct Report {
        var loops = 0
        var tooDeep = false
        var unreached: [Int] = []
        var placed = 0
    }

    enum Outcome {
        case linked(roots: [Int], children: [[Int]], shift: Int, report: Report)
        case unusable(reason: String)
    }

    mutating func build() -> Outcome {
        var byOffset: [Int: Int] = [:]
        byOffset.reserveCapacity(records.count)
        for index in records.indices where records[index].offset >= 0 { byOffset[records[index].offset] = records[index].index }
        var nonZero: [Int] = rootFirst == 0 ? [] : [rootFirst]
        nonZero.reserveCapacity(2 * records.count + 1)
        for index in records.indices {
            if records[index].nextOffset != 0 { nonZero.append(records[index].nextOffset) }
            if records[index].lowerOffset != 0 { nonZero.append(records[index].lowerOffset) }
        }
        if rootFirst == 0 {
            return .unusable(reason: nonZero.isEmpty
                ? "every record offset is zero"
                : "the offset of the first root record (0004,1200) is zero although there are records")
        }
        func resolves(_ shift: Int) -> Bool { nonZero.allSatisfy { byOffset[$0 + shift] != nil } }
        var shift: Int?
        if resolves(0) {
            shift = 0
        } else {
            // A constant shift: the first root record is nearly always the first item.
            var candidates: [Int] = records.prefix(16).map { $0.offset - rootFirst }
            candidates += [132, -132, 128, -128, 4, -4]
            shift = candidates.first(where: { $0 != 0 && resolves($0) })
        }
        guard let shift else {
            let bad = nonZero.filter { byOffset[$0] == nil }.count
            return .unusable(reason: "\(bad) of \(nonZero.count) record offsets do not point at a record")
        }

        var report = Report()
        var children = [[Int]](repeating: [], count: records.count)
        var visited = [Bool](repeating: false, count: records.count)
        /// Follows a next-chain from `offset`; returns the records in it.
        func chain(from offset: Int) -> [Int] {
            var out: [Int] = []
            var current = offset
            while current != 0 {
                guard let index = byOffset[current + shift] else { break }
                guard !visited[index] else { report.loops += 1; break }
                visited[index] = true
                out.append(index)
                current = records[index].nextOffset
            }
            return out
        }
        let roots = chain(from: rootFirst)
        var level: [(Int, Int)] = roots.map { ($0, 1) }
        while let (index, depth) = level.popLast() {
            report.placed += 1
            let lower = records[index].lowerOffset
            guard lower != 0 else { continue }
            if depth >= OffsetTree.maximumDepth { report.tooDeep = true; continue }
            let kids = chain(from: lower)
            children[index] = kids
            level += kids.map { ($0, depth + 1) }
        }
        report.unreached = records.indices.filter { !visited[$0] && records[$0].isInUse }
        return .linked(roots: roots, children: children, shift: -shift, report: report)
    }
}

/// The tree the record order describes: each record hangs under the last
/// record of the level above it.
enum OrderTree {
    struct Result {
        var roots: [Int] = []
        var children: [[Int]]
        var orphans: [Int] = []
        var placed = 0
    }

    static func build(_ records: [DirectoryRecord]) -> Result {
        var result = Result(children: [[Int]](repeating: [], count: records.count))
        var current: [DirectoryRecord.Level: Int] = [:]
        for position in records.indices {
            let index = records[position].index
            let level = records[position].level
            switch level {
            case .patient:
                result.roots.append(index)
                current = [.patient: index]
                result.placed += 1
            case .study, .series, .instance:
                let parentLevel = RecordTypes.parentLevel(of: level)!
                guard let parent = current[parentLevel] else {
                    if records[position].isInUse { result.orphans.append(index) }
                    continue
                }
                result.children[parent].append(index)
                current[level] = index
                // A new study ends the current series, and so on.
                if level == .study { current[.series] = nil }
                result.placed += 1
            case .other, .unknown:
                // Outside the tree (or PRIVATE): at the root; skipped later if unknown.
                result.roots.append(index)
                result.placed += 1
            }
        }
        return result
    }
}
