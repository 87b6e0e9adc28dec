import DICOM
import Foundation
import Synchronization

/// Looks at everything on a medium, once, and says what is on it and what
/// is wrong with it: ``ScanReport``.
///
/// Every file is visited once (folders in parallel) and sniffed by content,
/// never by extension. DICOM files (Part 10 or raw data sets) are read up to
/// their pixel data only, and only a small summary of each is kept. A
/// DICOMDIR (Media Storage SOP Class 1.2.840.10008.1.3.10) is read in full
/// and compared with the files after the visit: references with no file,
/// files it does not list, records whose UIDs disagree with the file.
public struct MediumScanner: Sendable {
    public var limits: MediumLimits

    public init(limits: MediumLimits = .init()) {
        self.limits = limits
    }

    /// Opens what the user named (folder, ISO, zip, tar, device, file) and
    /// scans it. Never throws: a source that cannot be opened yields a
    /// report with a `medium-error` problem and ``ScanReport/complete`` false.
    public func scan(path: String) -> ScanReport {
        let medium: any Medium
        do {
            medium = try openMedium(path, limits: limits)
        } catch {
            var builder = ReportBuilder(source: .init(path: path, kind: nil, volumeLabel: nil))
            builder.complete = false
            builder.problems.append(ScanProblem(.mediumError, .error, path: nil, "cannot read \(path): \(error.message)"))
            return builder.finish()
        }
        return scan(medium)
    }

    /// Scans an open medium.
    public func scan(_ medium: any Medium) -> ScanReport {
        scan(medium, instances: nil)
    }

    /// Scans an open medium; `instances` is shown every file's summary
    /// before the report is built from them.
    func scan(_ medium: any Medium, instances: (([InstanceSummary]) -> Void)?) -> ScanReport {
        let collector = ScanCollector()
        let source = ScanReport.Source(path: medium.location, kind: medium.kind, volumeLabel: medium.volumeLabel)
        var visitError: String?
        do {
            try medium.visitFiles({ file in
                let outcome = FileInspector.inspect(file, previous: collector.lastAttributes)
                collector.add(outcome)
            }, skipped: { error in
                collector.skipped(error)
            })
        } catch let error as MediaError {
            visitError = error.description
        } catch {
            visitError = "\(error)"
        }
        // The workers' allocator arenas keep what the visit freed (the
        // DICOMDIR's parse above all); give it back before the report is built.
        releaseFreedMemory()
        var builder = ReportBuilder(source: source)
        var collected = collector.take()
        builder.take(&collected)
        instances?(builder.state.instances)
        if let visitError {
            builder.complete = false
            builder.problems.append(ScanProblem(.mediumError, .error, path: nil, "the medium could not be read to its end, so this report is incomplete: \(visitError)"))
        }
        return builder.finish()
    }
}

/// glibc's `malloc_trim(0)` (not in the Glibc module: looked up once):
/// returns the free memory of every allocator arena to the system.
private let mallocTrim: (@convention(c) (Int) -> Int32)? = {
    #if os(Linux)
    guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    #else
    return nil
    #endif
}()

func releaseFreedMemory() {
    _ = mallocTrim?(0)
}

// MARK: - Per file

/// A DICOM file reduced to what the report and the DICOMDIR comparison need.
///
/// What is the same for every file of a series (patient, study and series
/// attributes) lives in one shared ``SeriesAttributes``: the collector
/// interns them, so 20,000 files of 100 series hold 100 copies, not 20,000,
/// and a summary is a few words and its path and SOP Instance UID.
struct InstanceSummary: Sendable {
    var path: String
    var size: Int
    var hasFileMeta: Bool
    /// Truncated, damaged or unreadable: reported, not in the tree.
    var isDamaged = false
    var transferSyntaxUID: String
    var sopClassUID: String?
    var sopInstanceUID: String?
    var instanceNumber: Int?
    var shared: SeriesAttributes

    init(path: String, size: Int, hasFileMeta: Bool, transferSyntaxUID: String, sopClassUID: String? = nil,
         sopInstanceUID: String? = nil, instanceNumber: Int? = nil, shared: SeriesAttributes = .none) {
        self.path = path
        self.size = size
        self.hasFileMeta = hasFileMeta
        self.transferSyntaxUID = transferSyntaxUID
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.instanceNumber = instanceNumber
        self.shared = shared
    }

    var patientID: String? { shared.patientID }
    var issuerOfPatientID: String? { shared.issuerOfPatientID }
    var patientName: String? { shared.patientName }
    var birthDate: String? { shared.birthDate }
    var sex: String? { shared.sex }
    var studyInstanceUID: String? { shared.studyInstanceUID }
    var studyDate: String? { shared.studyDate }
    var studyTime: String? { shared.studyTime }
    var studyDescription: String? { shared.studyDescription }
    var accessionNumber: String? { shared.accessionNumber }
    var studyID: String? { shared.studyID }
    var seriesInstanceUID: String? { shared.seriesInstanceUID }
    var seriesNumber: Int? { shared.seriesNumber }
    var modality: String? { shared.modality }
    var seriesDescription: String? { shared.seriesDescription }
}

/// The patient, study and series attributes of a file: immutable, shared
/// by the summaries of every file that has the same ones.
final class SeriesAttributes: Sendable, Hashable {
    let patientID: String?
    let issuerOfPatientID: String?
    let patientName: String?
    let birthDate: String?
    let sex: String?
    let studyInstanceUID: String?
    let studyDate: String?
    let studyTime: String?
    let studyDescription: String?
    let accessionNumber: String?
    let studyID: String?
    let seriesInstanceUID: String?
    let seriesNumber: Int?
    let modality: String?
    let seriesDescription: String?

    init(patientID: String? = nil, issuerOfPatientID: String? = nil, patientName: String? = nil, birthDate: String? = nil, sex: String? = nil,
         studyInstanceUID: String? = nil, studyDate: String? = nil, studyTime: String? = nil, studyDescription: String? = nil,
         accessionNumber: String? = nil, studyID: String? = nil, seriesInstanceUID: String? = nil, seriesNumber: Int? = nil,
         modality: String? = nil, seriesDescription: String? = nil) {
        self.patientID = patientID
        self.issuerOfPatientID = issuerOfPatientID
        self.patientName = patientName
        self.birthDate = birthDate
        self.sex = sex
        self.studyInstanceUID = studyInstanceUID
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber
        self.studyID = studyID
        self.seriesInstanceUID = seriesInstanceUID
        self.seriesNumber = seriesNumber
        self.modality = modality
        self.seriesDescription = seriesDescription
    }

    /// No attributes (a file too damaged to read any).
    static let none = SeriesAttributes()

    /// Byte for byte (not String's canonical equivalence: a name in NFC and
    /// the same name in NFD stay apart, as the files have them).
    static func == (a: SeriesAttributes, b: SeriesAttributes) -> Bool {
        func same(_ x: String?, _ y: String?) -> Bool { sameBytes(x, y) }
        return a === b || (same(a.seriesInstanceUID, b.seriesInstanceUID) && same(a.studyInstanceUID, b.studyInstanceUID)
            && same(a.patientID, b.patientID) && same(a.issuerOfPatientID, b.issuerOfPatientID) && same(a.patientName, b.patientName) && same(a.birthDate, b.birthDate)
            && same(a.sex, b.sex) && same(a.studyDate, b.studyDate) && same(a.studyTime, b.studyTime)
            && same(a.studyDescription, b.studyDescription) && same(a.accessionNumber, b.accessionNumber)
            && same(a.studyID, b.studyID) && a.seriesNumber == b.seriesNumber && same(a.modality, b.modality)
            && same(a.seriesDescription, b.seriesDescription))
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(seriesInstanceUID)
        hasher.combine(studyInstanceUID)
        hasher.combine(patientID)
    }
}

/// Byte order of the UTF-8: a total order on names as the files spell
/// them (String's `<` holds an NFC and an NFD spelling of a name equal,
/// which would leave their order to the threads that found them), the same
/// as `<` for ASCII, and a memcmp rather than a Unicode comparison (sorting
/// 20,000 paths compared them ~300,000 times).
func bytesLess(_ a: String, _ b: String) -> Bool {
    let order = a.utf8.withContiguousStorageIfAvailable { x in
        b.utf8.withContiguousStorageIfAvailable { y in bytesLess(UnsafeRawBufferPointer(x), UnsafeRawBufferPointer(y)) }
    }
    if let order, let less = order { return less }
    return a.utf8.lexicographicallyPrecedes(b.utf8)
}

@inline(__always)
func bytesLess(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
    let common = min(x.count, y.count)
    let compared = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
    return compared != 0 ? compared < 0 : x.count < y.count
}

/// The indices of `strings` in ``bytesLess(_:_:)`` order, their bytes
/// gathered into one buffer first: each comparison is then one memcmp.
func bytesOrder(_ strings: [String]) -> [Int] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(strings.reduce(0) { $0 + $1.utf8.count })
    var spans: [Range<Int>] = []
    spans.reserveCapacity(strings.count)
    for string in strings {
        let start = bytes.count
        bytes.append(contentsOf: string.utf8)
        spans.append(start..<bytes.count)
    }
    return bytes.withUnsafeBytes { all in
        spans.withUnsafeBufferPointer { spans in
            spans.indices.sorted { bytesLess(UnsafeRawBufferPointer(rebasing: all[spans[$0]]), UnsafeRawBufferPointer(rebasing: all[spans[$1]])) }
        }
    }
}

/// Equal UTF-8 bytes (String's `==` is canonical equivalence).
@inline(__always)
func sameBytes(_ a: String?, _ b: String?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (let x?, let y?):
        // Native strings are contiguous UTF-8: the counts, then one memcmp.
        let count = x.utf8.count
        guard count == y.utf8.count else { return false }
        let contiguous = x.utf8.withContiguousStorageIfAvailable { a in
            y.utf8.withContiguousStorageIfAvailable { b in count == 0 || memcmp(a.baseAddress!, b.baseAddress!, count) == 0 }
        }
        if let contiguous, let equal = contiguous { return equal }
        return x.utf8.elementsEqual(y.utf8)
    default: return false
    }
}

/// A string compared byte for byte, for interning.
struct ExactString: Hashable, Sendable {
    let value: String
    static func == (a: ExactString, b: ExactString) -> Bool { sameBytes(a.value, b.value) }
    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

/// What one file turned out to be.
enum FileOutcome: Sendable {
    case dicom(InstanceSummary, problems: [ScanProblem], grouped: [GroupedProblem])
    case dicomdir(DICOMDirectory, size: Int)
    case loose(ScanReport.LooseFile)
    case ignored(ScanReport.IgnoredFile)
}

/// A problem reported once per series (or folder) with a file count,
/// rather than once per file.
struct GroupedProblem: Sendable, Hashable {
    var code: ProblemCode
    var severity: ProblemSeverity
    var message: String
}

enum FileInspector {
    /// Read first: the header read's own first read, so a header that fits
    /// is parsed from it (a longer one reads on from there), and plenty for
    /// ``FileKind``.
    static let probeSize = DICOMFile.headerProbeSize

    /// `previous`: see ``summarize(_:path:size:previous:)``.
    static func inspect(_ file: MediumFile, previous: SeriesAttributes? = nil) -> FileOutcome {
        let path = file.path
        if isOSJunk(path) {
            return .ignored(.init(path: path, reason: .osJunk, size: file.size))
        }
        if file.size == 0 {
            if isNamedDICOMDIR(path) { return .dicomdir(DICOMDirectory(unreadable: path, "the file is empty"), size: 0) }
            return .ignored(.init(path: path, reason: .empty, size: 0))
        }
        let head: Data
        do throws(MediaError) {
            head = try file.readPrefix(min(file.size, probeSize))
        } catch {
            var summary = InstanceSummary(path: path, size: file.size, hasFileMeta: false, transferSyntaxUID: "")
            summary.isDamaged = true
            return .dicom(summary, problems: [ScanProblem(.unreadableFile, .error, path: path, "cannot be read from the medium: \(error.message)")], grouped: [])
        }
        let kind = FileKind.sniff(prefix: head.prefix(FileKind.sniffPrefixSize), path: path)
        if kind != .dicom && isNamedDICOMDIR(path) {
            // Too broken to be recognised by content, but named DICOMDIR.
            return .dicomdir(DICOMDirectory(unreadable: path, "it is not a DICOM file (\(file.size) bytes)"), size: file.size)
        }
        switch kind {
        case .dicom, .dicomdir:
            return inspectDICOM(file, head: head, hasPreamble: hasDICM(head), previous: previous)
        case .jpeg, .png, .tiff, .bmp, .pdf:
            if isWebOrViewerPlace(path) { return .ignored(.init(path: path, reason: .viewer, size: file.size)) }
            return .loose(.init(path: path, kind: kind.rawValue, size: file.size))
        case .gif:
            return .ignored(.init(path: path, reason: isWebOrViewerPlace(path) ? .viewer : .image, size: file.size))
        case .html, .viewer, .executable:
            return .ignored(.init(path: path, reason: .viewer, size: file.size))
        case .autorun:
            return .ignored(.init(path: path, reason: .autorun, size: file.size))
        case .text:
            return .ignored(.init(path: path, reason: isWebOrViewerPlace(path) ? .viewer : .text, size: file.size))
        case .archive:
            return .ignored(.init(path: path, reason: isWebOrViewerPlace(path) ? .viewer : .archive, size: file.size))
        case .other:
            if isWebOrViewerPlace(path) { return .ignored(.init(path: path, reason: .viewer, size: file.size)) }
            return .ignored(.init(path: path, reason: isDiscImage(file) ? .archive : .unrecognized, size: file.size))
        }
    }

    /// An ISO 9660 or UDF image (its volume recognition sequence).
    static func isDiscImage(_ file: MediumFile) -> Bool {
        guard file.size > 0x8000, let head = try? file.readPrefix(min(file.size, MediumSniffer.headSize)) else { return false }
        let volume = MediumSniffer.volumeRecognition(head)
        return volume.iso || volume.udf
    }

    /// Named `DICOMDIR` (any case, `;1`, trailing dot).
    static func isNamedDICOMDIR(_ path: String) -> Bool {
        var path = path
        // An ASCII name on its bytes (what normalizeComponent does to it).
        if let ascii = path.withUTF8({ bytes -> Bool? in
            var end = bytes.count
            while end > 0, bytes[end - 1] == 0x2F { end -= 1 }
            var start = end
            while start > 0, bytes[start - 1] != 0x2F { start -= 1 }
            for i in start..<end where bytes[i] >= 0x80 { return nil }
            var semicolon = end
            while semicolon > start, bytes[semicolon - 1] != 0x3B { semicolon -= 1 }
            if semicolon > start, bytes[semicolon..<end].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { end = semicolon - 1 }
            while end - start > 1, bytes[end - 1] == 0x2E { end -= 1 }
            let target = dicomdirName
            guard end - start == target.count else { return false }
            for i in 0..<target.count {
                let byte = bytes[start + i]
                if (byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte) != target[i] { return false }
            }
            return true
        }) {
            return ascii
        }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return FileIDResolver.normalizeComponent(name) == "dicomdir"
    }

    static let dicomdirName: [UInt8] = Array("dicomdir".utf8)

    /// A file named DICOMDIR up to this size is read whole at once.
    static let wholeDICOMDIRLimit = 64 << 20

    static func hasDICM(_ head: Data) -> Bool {
        guard head.count >= 132 else { return false }
        let s = head.startIndex
        return head[s + 128] == 0x44 && head[s + 129] == 0x49 && head[s + 130] == 0x43 && head[s + 131] == 0x4D
    }

    /// Operating-system litter that is never looked at.
    static func isOSJunk(_ path: String) -> Bool {
        var path = path
        // ASCII paths (nearly all): on their bytes, lower-cased as compared.
        if let ascii = path.withUTF8({ bytes -> Bool? in
            for byte in bytes where byte >= 0x80 { return nil }
            return isOSJunkASCII(bytes)
        }) {
            return ascii
        }
        let lower = "/" + path.lowercased()
        for folder in osJunkFolders where lower.contains(folder) { return true }
        guard let slash = lower.lastIndex(of: "/") else { return false }
        let name = lower[lower.index(after: slash)...]
        if name.hasPrefix("._") { return true }
        return osJunkNames.contains(FileIDResolver.normalizeComponent(String(name)))
    }

    /// ``isOSJunk(_:)`` of an ASCII path: a junk folder at the start or
    /// after any `/`, a name starting `._`, a junk name (after
    /// ``FileIDResolver/normalizeComponent(_:)``); nothing allocated.
    static func isOSJunkASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        @inline(__always) func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte }
        /// Whether `pattern` (lower case) is at `at`, compared lower-cased.
        func matches(_ pattern: [UInt8], from: Int, at: Int) -> Bool {
            guard at + pattern.count - from <= bytes.count else { return false }
            for i in from..<pattern.count where lower(bytes[at + i - from]) != pattern[i] { return false }
            return true
        }
        // Folders: `/name/` patterns against "/" + path, so at each
        // component start (a `/` before it, or the start of the path).
        var nameStart = 0
        for i in 0...bytes.count {
            guard i == 0 || bytes[i - 1] == 0x2F else { continue }
            nameStart = i
            for folder in osJunkFolderBytes where matches(folder, from: 1, at: i) { return true }
        }
        let count = bytes.count - nameStart
        if count >= 2, bytes[nameStart] == 0x2E, bytes[nameStart + 1] == 0x5F { return true }   // `._`
        // normalizeComponent: a `;<digits>` version, then trailing dots (one character stays).
        var end = bytes.count
        var semicolon = end
        while semicolon > nameStart, bytes[semicolon - 1] != 0x3B { semicolon -= 1 }
        if semicolon > nameStart, bytes[semicolon..<end].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { end = semicolon - 1 }
        while end - nameStart > 1, bytes[end - 1] == 0x2E { end -= 1 }
        for name in osJunkNameBytes where name.count == end - nameStart && matches(name, from: 0, at: nameStart) { return true }
        return false
    }

    static let osJunkFolders = ["/__macosx/", "/.spotlight-v100/", "/.trashes/", "/.fseventsd/", "/system volume information/",
                                "/$recycle.bin/", "/.temporaryitems/"]
    static let osJunkFolderBytes: [[UInt8]] = osJunkFolders.map { Array($0.utf8) }

    /// Whether `pattern` occurs in `bytes`.
    static func contains(_ bytes: [UInt8], _ pattern: [UInt8]) -> Bool {
        guard let head = pattern.first, pattern.count <= bytes.count else { return pattern.isEmpty }
        var i = 0
        let last = bytes.count - pattern.count
        while i <= last {
            if bytes[i] == head {
                var j = 1
                while j < pattern.count, bytes[i + j] == pattern[j] { j += 1 }
                if j == pattern.count { return true }
            }
            i += 1
        }
        return false
    }

    static let osJunkNames: Set<String> = [".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".directory", "icon\r"]
    static let osJunkNameBytes: [[UInt8]] = osJunkNames.map { Array($0.utf8) }

    /// Inside a viewer's folder or the IHE PDI web content (`IHE_PDI/`):
    /// pictures and texts there belong to the viewer, not to the patient.
    static func isWebOrViewerPlace(_ path: String) -> Bool {
        if FileKind.isViewerPlace(path) { return true }
        for folder in path.split(separator: "/").dropLast() {
            let lower = FileIDResolver.normalizeComponent(String(folder))
            if lower == "ihe_pdi" || lower == "ihe_xdm" || lower == "autorun" || lower == "jre" || lower == "jvm" {
                return true
            }
        }
        return false
    }

    /// The header of a DICOM file, its pixel data checked against the file size.
    static func inspectDICOM(_ file: MediumFile, head: Data, hasPreamble: Bool, previous: SeriesAttributes? = nil) -> FileOutcome {
        let path = file.path
        let options = ReadOptions(stopBeforePixelData: true, lenient: true)
        var parsed: DICOMFile
        // The scan compares the records' keys only: their items are not kept.
        var directory = DirectoryReader(path: path)
        directory.keepsAttributes = false
        // A DICOMDIR's bytes, read whole: what a damaged one is salvaged from.
        var whole: Data?
        do throws(DICOMError) {
            let prefix = MediumFile.dicomPrefix(file, head: head)
            if file.size <= wholeDICOMDIRLimit, isNamedDICOMDIR(path) {
                // A DICOMDIR has no pixel data to stop before: the header read
                // would grow its probe eightfold and parse again from the start
                // each time until the end of the file. It is read whole and
                // parsed once, as that last round would (same options, complete),
                // each record made as its item is read (20,000 items held as
                // data sets at once were 11 MB at the peak of a scan).
                let data = try prefix(file.size)
                whole = data
                parsed = try DICOMFile(data: data, options: options, path: path,
                                       handingItemsOf: .directoryRecordSequence) { directory.take($0) }
                parsed.fileSize = file.size
            } else {
                parsed = try DICOMFile(size: file.size, path: path, options: options, prefix: prefix)
            }
        } catch {
            // Not even a header: a `DICM` file is damaged DICOM; a raw
            // data set guess that does not parse is just not DICOM.
            if isNamedDICOMDIR(path) {
                return .dicomdir(DICOMDirectory(unreadable: path, error.message), size: file.size)
            }
            guard hasPreamble else {
                return .ignored(.init(path: path, reason: .unrecognized, size: file.size))
            }
            var summary = InstanceSummary(path: path, size: file.size, hasFileMeta: true, transferSyntaxUID: "")
            summary.isDamaged = true
            let code: ProblemCode = error.kind == .io ? .unreadableFile : isTruncation(error) ? .truncated : .damaged
            return .dicom(summary, problems: [ScanProblem(code, .error, path: path, describe(error, size: file.size))], grouped: [])
        }

        // A DICOMDIR by its SOP class; a broken one (no SOP class read) by its name.
        if isDICOMDIR(parsed) || (parsed.error != nil && parsed.sopClassUID == nil && isNamedDICOMDIR(path)) {
            // A damaged DICOMDIR is salvaged from its raw bytes (DICOMDIRs are small).
            let data = parsed.error == nil ? nil : whole ?? (try? file.readPrefix(file.size))
            return .dicomdir(directory.read(consume parsed, data: data), size: file.size)
        }
        var summary = summarize(parsed, path: path, size: file.size, previous: previous)
        // A raw data set guess with nothing DICOM in it is not DICOM (a
        // file with `DICM` is DICOM, damaged or not).
        if !hasPreamble, !parsed.hasFileMeta, summary.sopInstanceUID == nil, summary.studyInstanceUID == nil, summary.seriesInstanceUID == nil,
           summary.sopClassUID == nil {
            return .ignored(.init(path: path, reason: .unrecognized, size: file.size))
        }

        var problems: [ScanProblem] = []
        var grouped: [GroupedProblem] = []
        if let error = parsed.error {
            summary.isDamaged = true
            problems.append(ScanProblem(isTruncation(error) ? .truncated : error.kind == .io ? .unreadableFile : .damaged, .error, path: path,
                                        describe(error, size: file.size) + context(summary)))
        } else if hasPreamble, parsed.dataset.isEmpty {
            // `DICM` (and maybe a file meta) with no data set after it: no
            // instance, a damaged file (an empty instance would be a patient
            // of its own, with no name or UIDs).
            summary.isDamaged = true
            problems.append(ScanProblem(.damaged, .error, path: path,
                                        "\(parsed.hasFileMeta ? "a file meta information header" : "the DICM prefix") but no data set after it (\(file.size) bytes)"))
        } else if let fault = checkPixelData(parsed, file: file, head: head) {
            summary.isDamaged = true
            problems.append(ScanProblem(fault.code, .error, path: path, fault.message + context(summary)))
        }
        if !parsed.hasFileMeta && !hasPreamble && !summary.isDamaged {
            grouped.append(GroupedProblem(code: .noFileMeta, severity: .info,
                message: "no Part 10 header (preamble, DICM, file meta information): a raw \(parsed.transferSyntax.isExplicitVR ? "explicit" : "implicit") VR data set; discport adds the header when it imports or writes it"))
        }
        if !summary.isDamaged, let warning = parsed.warnings.first(where: { $0.kind != .oddLength }) ?? parsed.warnings.first {
            grouped.append(GroupedProblem(code: .encodingDeviation, severity: .info, message: warning.message))
        }
        // Meta and data set must name the same instance.
        // (The summary's SOP Instance UID is the data set's when it has one;
        // the meta's is made into a string only when it differs.)
        if let dataUID = summary.sopInstanceUID, !parsed.dataset.firstString(.sopInstanceUID, is: nil),
           !parsed.meta.firstString(.mediaStorageSOPInstanceUID, is: dataUID, by: ==),
           let metaUID = parsed.meta.firstString(.mediaStorageSOPInstanceUID) {
            problems.append(ScanProblem(.uidMismatch, .warning, path: path, "Media Storage SOP Instance UID \(metaUID) in the file meta differs from SOP Instance UID \(dataUID) in the data set"))
        }
        if !summary.isDamaged {
            var absent: [String] = []
            if summary.sopInstanceUID == nil { absent.append("SOP Instance UID") }
            if summary.studyInstanceUID == nil { absent.append("Study Instance UID") }
            if summary.seriesInstanceUID == nil { absent.append("Series Instance UID") }
            if !absent.isEmpty {
                problems.append(ScanProblem(.missingUID, .warning, path: path, "the file has no \(absent.joined(separator: ", "))"))
            }
        }
        for (tag, name) in [(Tag.patientName, "Patient's Name"), (.studyDescription, "Study Description"), (.seriesDescription, "Series Description"),
                            (.institutionName, "Institution Name")] {
            if parsed.dataset.hasUndecodableText(tag) {
                let charset = parsed.dataset.strings(.specificCharacterSet).joined(separator: "\\")
                grouped.append(GroupedProblem(code: .charsetUndecodable, severity: .warning,
                    message: "\(name) does not decode with Specific Character Set \"\(charset)\"; undecodable bytes are shown as \u{FFFD}"))
            }
        }
        return .dicom(summary, problems: problems, grouped: grouped)
    }

    static func isDICOMDIR(_ file: DICOMFile) -> Bool {
        if file.meta.firstString(.mediaStorageSOPClassUID, is: DICOMDirectory.sopClassUID, by: ==) { return true }
        if file.dataset.firstString(.sopClassUID, is: DICOMDirectory.sopClassUID, by: ==) { return true }
        return file.dataset.contains(.directoryRecordSequence)
    }

    static func isTruncation(_ error: DICOMError) -> Bool {
        error.kind == .truncated || (error.kind == .lengthOutOfBounds && error.message.contains("end of the file"))
    }

    static func describe(_ error: DICOMError, size: Int) -> String {
        var text = error.message
        if let offset = error.offset { text += " (at byte \(offset) of \(size))" }
        return text
    }

    /// ` (patient …, series 2 CT "Axial")` for messages about a damaged file.
    static func context(_ summary: InstanceSummary) -> String {
        var parts: [String] = []
        if let name = summary.patientName { parts.append("patient \(name)") }
        var series: [String] = []
        if let number = summary.seriesNumber { series.append("series \(number)") }
        if let modality = summary.modality { series.append(modality) }
        if let description = summary.seriesDescription { series.append("\"\(description)\"") }
        if !series.isEmpty { parts.append(series.joined(separator: " ")) }
        if let uid = summary.sopInstanceUID { parts.append("SOP Instance UID \(uid)") }
        return parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))"
    }

    /// The file's patient, study and series attributes are `attributes`,
    /// byte for byte (compared on the values' bytes: no strings made).
    static func hasAttributes(_ ds: PlainReader, _ attributes: SeriesAttributes) -> Bool {
        let a = attributes
        guard ds.firstString(.seriesInstanceUID, is: a.seriesInstanceUID), ds.firstString(.studyInstanceUID, is: a.studyInstanceUID),
              ds.firstString(.patientID, is: a.patientID), ds.firstString(.issuerOfPatientID, is: a.issuerOfPatientID),
              ds.trimmedText(.patientName, is: a.patientName), ds.firstString(.patientBirthDate, is: a.birthDate),
              ds.firstString(.patientSex, is: a.sex) else { return false }
        guard ds.firstString(.studyDate, is: a.studyDate), ds.firstString(.studyTime, is: a.studyTime),
              ds.trimmedText(.studyDescription, is: a.studyDescription), ds.firstString(.accessionNumber, is: a.accessionNumber),
              ds.firstString(.studyID, is: a.studyID), ds.firstString(.modality, is: a.modality),
              ds.trimmedText(.seriesDescription, is: a.seriesDescription) else { return false }
        return ds.integerValue(.seriesNumber) == a.seriesNumber
    }

    /// `previous`: the attributes of a file read before (by this thread),
    /// shared rather than made again when this file has the same.
    static func summarize(_ file: DICOMFile, path: String, size: Int, previous: SeriesAttributes? = nil) -> InstanceSummary {
        file.dataset.withPlainReader { summarize(file, $0, path: path, size: size, previous: previous) }
    }

    /// ``summarize(_:path:size:previous:)`` with the data set's values read
    /// from its buffer.
    private static func summarize(_ file: DICOMFile, _ ds: PlainReader, path: String, size: Int, previous: SeriesAttributes?) -> InstanceSummary {
        func text(_ tag: Tag) -> String? { ds.trimmedText(tag) }
        func first(_ tag: Tag) -> String? { ds.firstString(tag) }
        let shared: SeriesAttributes
        if let previous, hasAttributes(ds, previous) {
            shared = previous
        } else {
            shared = SeriesAttributes(
                patientID: first(.patientID),
                issuerOfPatientID: first(.issuerOfPatientID),
                patientName: text(.patientName),
                birthDate: first(.patientBirthDate),
                sex: first(.patientSex),
                studyInstanceUID: first(.studyInstanceUID),
                studyDate: first(.studyDate),
                studyTime: first(.studyTime),
                studyDescription: text(.studyDescription),
                accessionNumber: first(.accessionNumber),
                studyID: first(.studyID),
                seriesInstanceUID: first(.seriesInstanceUID),
                seriesNumber: ds.integerValue(.seriesNumber),
                modality: first(.modality),
                seriesDescription: text(.seriesDescription))
        }
        return InstanceSummary(
            path: path,
            size: size,
            hasFileMeta: file.hasFileMeta,
            transferSyntaxUID: file.transferSyntax.uid,
            sopClassUID: first(.sopClassUID) ?? file.meta.firstString(.mediaStorageSOPClassUID),
            sopInstanceUID: first(.sopInstanceUID) ?? file.meta.firstString(.mediaStorageSOPInstanceUID),
            instanceNumber: ds.integerValue(.instanceNumber),
            shared: shared
        )
    }

    /// Pixel data that runs past the end of the file: the element header at
    /// ``DICOMFile/pixelDataOffset`` gives a defined length to check against
    /// the size; an undefined (encapsulated) length must end with the
    /// sequence delimitation item, else the fragments are walked. Pixel
    /// data encoded otherwise than its transfer syntax says (encapsulated
    /// under a native syntax, native under an encapsulated one:
    /// ``PixelDataEncoding``) is damaged.
    static func checkPixelData(_ parsed: DICOMFile, file: MediumFile, head: Data) -> (code: ProblemCode, message: String)? {
        guard let offset = parsed.pixelDataOffset, !parsed.transferSyntax.isDeflated else { return nil }
        let size = file.size
        let explicit = parsed.transferSyntax.isExplicitVR
        let bigEndian = parsed.transferSyntax.isBigEndian
        func read(_ at: Int, _ count: Int) -> [UInt8]? {
            if at + count <= head.count {
                return [UInt8](head[(head.startIndex + at)..<(head.startIndex + at + count)])
            }
            guard let data = try? file.readRange(at, count), data.count == count else { return nil }
            return [UInt8](data)
        }
        func u16(_ b: [UInt8], _ i: Int) -> Int { bigEndian ? Int(b[i]) << 8 | Int(b[i + 1]) : Int(b[i]) | Int(b[i + 1]) << 8 }
        func u32(_ b: [UInt8], _ i: Int) -> Int {
            bigEndian ? Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
                : Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 | Int(b[i + 3]) << 24
        }
        guard let (valueStart, length) = PixelDataEncoding.elementLength(at: offset, explicit: explicit, bigEndian: bigEndian, read: read) else {
            return (.truncated, "the file ends inside the header of its pixel data element (at byte \(offset) of \(size))")
        }
        // The pixel data as the syntax says: the declared one (a data set
        // written in another encoding than its syntax is only a deviation
        // when its pixel data agrees), else the one read.
        let syntax = PixelDataEncoding.declaredSyntax(parsed) ?? parsed.transferSyntax
        if let mismatch = (length == 0xFFFF_FFFF ? PixelDataEncoding.encapsulated : .native).mismatch(with: syntax) {
            return (.damaged, mismatch)
        }
        if length != 0xFFFF_FFFF {
            let end = valueStart + length
            if end > size {
                return (.truncated, "pixel data (\(length) bytes from byte \(valueStart)) runs \(end - size) bytes past the end of the file (\(size) bytes)")
            }
            // Shorter than the image it describes (cut, its length made to
            // agree): no reader can decode it (pydicom, dciodvfy say so).
            if let needed = nativePixelBytes(parsed.dataset), length < needed {
                return (.damaged, "native pixel data is \(length) bytes, but its Rows, Columns, Samples per Pixel, Bits Allocated and Number of Frames need \(needed): the image cannot be decoded")
            }
            return nil
        }
        // Encapsulated: the last 8 bytes are normally the sequence delimiter.
        if size >= valueStart + 8, let tail = read(size - 8, 8),
           u16(tail, 0) == 0xFFFE, u16(tail, 2) == 0xE0DD, u32(tail, 4) == 0 {
            return nil
        }
        // Walk the fragments (trailing padding after the delimiter is allowed).
        var position = valueStart
        var items = 0
        while true {
            guard position + 8 <= size, let item = read(position, 8) else {
                return (.truncated, "encapsulated pixel data has no sequence delimiter: the file ends after \(items) fragment item\(items == 1 ? "" : "s") (\(size) bytes)")
            }
            let group = u16(item, 0), element = u16(item, 2), itemLength = u32(item, 4)
            if group == 0xFFFE && element == 0xE0DD { return nil }
            guard group == 0xFFFE, element == 0xE000, itemLength != 0xFFFF_FFFF else {
                return (.damaged, "encapsulated pixel data: expected a fragment item at byte \(position), found (\(hex4(group)),\(hex4(element)))")
            }
            position += 8 + itemLength
            items += 1
            if position > size {
                return (.truncated, "encapsulated pixel data: fragment \(items) runs \(position - size) bytes past the end of the file (\(size) bytes)")
            }
            if items > 10_000_000 { return nil }
        }
    }

    /// The bytes native pixel data needs (PS3.5 8.1.1; YBR_*_422 two
    /// samples per pixel), nil when the attributes are missing or absurd.
    static func nativePixelBytes(_ ds: Dataset) -> Int? {
        guard let rows = ds.integer(.rows), let columns = ds.integer(.columns), let bits = ds.integer(.bitsAllocated),
              (1...65535).contains(rows), (1...65535).contains(columns), (1...64).contains(bits) else { return nil }
        let samples = ds.integer(.samplesPerPixel) ?? 1
        let frames = ds.integer(.numberOfFrames) ?? 1
        guard (1...4).contains(samples), (1...(1 << 24)).contains(frames) else { return nil }
        // At most 2^16 · 2^16 · 4 · 2^24 · 64 bits: no overflow.
        var needed = (rows * columns * samples * frames * bits + 7) / 8
        if samples == 3, let photometric = ds.firstString(.photometricInterpretation), photometric.hasSuffix("_422") {
            needed = needed / 3 * 2
        }
        return needed
    }

    static func hex4(_ value: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }
}

extension MediumFile {
    /// A prefix reader for ``DICOMFile/init(size:path:options:prefix:)``
    /// that serves what was read already from `head`.
    static func dicomPrefix(_ file: MediumFile, head: Data = Data()) -> (_ count: Int) throws(DICOMError) -> Data {
        return { (count: Int) throws(DICOMError) -> Data in
            if count <= head.count { return head.prefix(count) }
            do throws(MediaError) {
                return try file.readPrefix(count)
            } catch {
                throw DICOMError(.io, "cannot be read from the medium: \(error.message)", path: file.path)
            }
        }
    }
}

// MARK: - Collecting

/// What the visit collected, behind a mutex (folders are visited from
/// several threads).
struct ScanState: Sendable {
    var instances: [InstanceSummary] = []
    var problems: [ScanProblem] = []
    /// (series UID or folder, problem) → files.
    var grouped: [GroupKey: [String]] = [:]
    var dicomdirs: [(path: String, directory: DICOMDirectory)] = []
    var loose: [ScanReport.LooseFile] = []
    var ignored: [ScanReport.IgnoredFile] = []
    var files = 0
    /// Every path on the medium, for resolving Referenced File IDs.
    var allPaths: [String] = []
    /// One ``SeriesAttributes`` per distinct set of attributes.
    var attributes: Set<SeriesAttributes> = []
    /// One copy of each SOP Class and Transfer Syntax UID.
    var uids: Set<ExactString> = []
    /// What the last file interned to: the next file of the same series
    /// (nearly always) is compared with it, not hashed.
    var lastShared: SeriesAttributes?
    var lastTransferSyntaxUID: String?
    var lastSOPClassUID: String?

    /// Replaces the summary's shared parts by their interned copies.
    mutating func intern(_ summary: inout InstanceSummary) {
        if let last = lastShared, last == summary.shared {
            summary.shared = last
        } else {
            summary.shared = attributes.insert(summary.shared).memberAfterInsert
            lastShared = summary.shared
        }
        if let last = lastTransferSyntaxUID, sameBytes(last, summary.transferSyntaxUID) {
            summary.transferSyntaxUID = last
        } else {
            summary.transferSyntaxUID = uids.insert(ExactString(value: summary.transferSyntaxUID)).memberAfterInsert.value
            lastTransferSyntaxUID = summary.transferSyntaxUID
        }
        if let uid = summary.sopClassUID {
            if let last = lastSOPClassUID, sameBytes(last, uid) {
                summary.sopClassUID = last
            } else {
                let interned = uids.insert(ExactString(value: uid)).memberAfterInsert.value
                summary.sopClassUID = interned
                lastSOPClassUID = interned
            }
        }
    }

    struct GroupKey: Hashable, Sendable {
        var scope: String
        var problem: GroupedProblem
    }
}

/// Collects what the workers found. Each worker thread adds to a lane of
/// its own (by the order in which threads first add), so workers never
/// wait for one another; ``take()`` merges the lanes once the visit is over.
final class ScanCollector: Sendable {
    final class Lane: Sendable {
        let state = Mutex(ScanState())
    }

    /// More lanes than folder workers: each worker has its own.
    static let laneCount = 8
    private let lanes: [Lane] = (0..<ScanCollector.laneCount).map { _ in Lane() }

    /// The calling thread's lane.
    private var lane: Lane { lanes[ThreadOrdinal.current % ScanCollector.laneCount] }

    func add(_ outcome: FileOutcome) {
        // Everything but the appends happens outside the lock.
        var groupKeys: [ScanState.GroupKey] = []
        if case .dicom(let summary, _, let grouped) = outcome, !grouped.isEmpty {
            let scope = summary.seriesInstanceUID ?? summary.path.split(separator: "/").dropLast().joined(separator: "/")
            groupKeys = grouped.map { ScanState.GroupKey(scope: scope, problem: $0) }
        }
        lane.state.withLock { state in
            state.files += 1
            switch outcome {
            case .dicom(var summary, let problems, _):
                state.allPaths.append(summary.path)
                state.intern(&summary)
                state.instances.append(summary)
                if !problems.isEmpty { state.problems += problems }
                for key in groupKeys { state.grouped[key, default: []].append(summary.path) }
            case .dicomdir(let directory, _):
                state.allPaths.append(directory.path)
                state.dicomdirs.append((directory.path, directory))
            case .loose(let file):
                state.allPaths.append(file.path)
                state.loose.append(file)
            case .ignored(let file):
                state.allPaths.append(file.path)
                state.ignored.append(file)
            }
        }
    }

    /// The series attributes of the calling thread's last file (see
    /// ``FileInspector/summarize(_:path:size:previous:)``).
    var lastAttributes: SeriesAttributes? {
        lane.state.withLock { $0.lastShared }
    }

    func skipped(_ error: MediaError) {
        lane.state.withLock { state in
            state.problems.append(ScanProblem(.skipped, .warning, path: error.path, "left out (\(error.kind.rawValue)): \(error.message)"))
        }
    }

    /// Everything collected, the lanes merged (in lane order; the report
    /// sorts what it lists), leaving the lanes empty.
    func take() -> ScanState {
        var states = lanes.map { lane in
            lane.state.withLock { state in
                var taken = ScanState()
                swap(&taken, &state)
                return taken
            }
        }
        var merged = ScanState()
        // The lists grow once, to their total, not by doubling lane by lane
        // (20,000 instances: megabytes of copies held at the peak of a scan).
        let instanceCount = states.reduce(0) { $0 + $1.instances.count }
        let pathCount = states.reduce(0) { $0 + $1.allPaths.count }
        for index in states.indices {
            var state = ScanState()
            swap(&state, &states[index])
            if merged.files == 0 && merged.problems.isEmpty {
                swap(&merged, &state)
                merged.instances.reserveCapacity(instanceCount)
                merged.allPaths.reserveCapacity(pathCount)
                continue
            }
            merged.files += state.files
            // One object per set of attributes across the lanes too: the
            // report groups files by these objects' identity and hashes
            // only where it changes between neighbours.
            var replacement: [ObjectIdentifier: SeriesAttributes] = [:]
            for attributes in state.attributes {
                let canonical = merged.attributes.insert(attributes).memberAfterInsert
                if canonical !== attributes { replacement[ObjectIdentifier(attributes)] = canonical }
            }
            if !replacement.isEmpty {
                var last: (original: SeriesAttributes, canonical: SeriesAttributes)?
                for index in state.instances.indices {
                    let shared = state.instances[index].shared
                    if let last, last.original === shared {
                        state.instances[index].shared = last.canonical
                    } else if let canonical = replacement[ObjectIdentifier(shared)] {
                        state.instances[index].shared = canonical
                        last = (shared, canonical)
                    } else {
                        last = (shared, shared)
                    }
                }
            }
            merged.instances += state.instances
            merged.problems += state.problems
            for (key, paths) in state.grouped { merged.grouped[key, default: []] += paths }
            merged.dicomdirs += state.dicomdirs
            merged.loose += state.loose
            merged.ignored += state.ignored
            merged.allPaths += state.allPaths
        }
        return merged
    }
}

/// A small number per thread, given in the order threads first ask for it.
enum ThreadOrdinal {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    private static let next = Atomic<Int>(1)

    static var current: Int {
        if let stored = pthread_getspecific(key) { return Int(bitPattern: stored) - 1 }
        let ordinal = next.add(1, ordering: .relaxed).oldValue
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: ordinal))
        return ordinal - 1
    }
}
