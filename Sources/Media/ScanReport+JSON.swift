import Foundation

// `discport scan --json` written directly: the same bytes as JSONEncoder
// with [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] over the
// Codable conformances of ScanReport (keys here in the order sortedKeys
// gives them), without the encoder's intermediate tree of boxed values —
// on a 20,000-file disc that tree cost more time and memory than the scan's
// own report. Tests compare the two byte for byte.

extension ScanReport {
    /// The report as JSON: pretty-printed, keys sorted (byte-stable output), slashes unescaped.
    public func jsonData() throws -> Data {
        // One Data sized from the counts (its pages count only once
        // written; it grows if the guess was short). The spare room also
        // lets callers append a newline without a reallocation.
        var output = Data(capacity: 4096 + 512 * totals.instances + 256 * (problems.count + ignored.count + looseFiles.count))
        writeJSON { output.append(contentsOf: $0) }
        return output
    }

    /// The bytes of ``jsonData()`` (and a newline after them when asked),
    /// handed to `sink` in pieces of about 64 KiB as they are written:
    /// never the whole text in memory.
    public func writeJSON(appendingNewline: Bool = false, to sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        var writer = ReportJSONWriter(sink: sink)
        writer.otherPatients = ReportJSONWriter.writingElsewhere(patients)
        writer.report(self)
        if appendingNewline { writer.bytes.append(0x0A) }
        writer.flush()
    }
}

extension ScanReport {
    /// Writes the report, JSON or text, to `handle` (the command's
    /// standard output); throws when it cannot be written (disk full, a
    /// closed pipe) instead of stopping the process.
    public func write(json: Bool, to handle: FileHandle) throws {
        guard json else {
            try handle.write(contentsOf: Data(textSummary().utf8))
            return
        }
        final class Outcome { var error: (any Error)? }
        let outcome = Outcome()
        writeJSON(appendingNewline: true) { bytes in
            guard outcome.error == nil else { return }
            do { try handle.write(contentsOf: Data(bytes)) } catch { outcome.error = error }
        }
        if let error = outcome.error { throw error }
    }
}

/// Pretty-printed JSON in JSONEncoder's layout: two spaces per level,
/// `"key" : value`, empty containers as `[` newline newline indent `]`.
struct ReportJSONWriter {
    /// Takes each piece written; nil: everything stays in `bytes`.
    let sink: ((UnsafeRawBufferPointer) -> Void)?
    /// The piece being written.
    var bytes: [UInt8] = []
    private var depth = 0
    /// Per open container: whether it has an element yet.
    private var hasElement: [Bool] = []
    /// The patients at odd positions, written on another thread meanwhile:
    /// one piece per patient, laid out at the depth of the patients array.
    var otherPatients: OrderedPieces?

    /// A large report's patients are written by two threads, turn about:
    /// this one writes the patients at even positions, another formats
    /// those at odd ones a little ahead (two pieces at most wait), so only
    /// a patient or two of the text is ever in memory.
    static func writingElsewhere(_ patients: [ScanReport.Patient]) -> OrderedPieces? {
        let total = patients.reduce(0) { $0 + $1.instanceCount }
        guard patients.count > 1, total >= 2000 else { return nil }
        let odd = stride(from: 1, to: patients.count, by: 2).map { patients[$0] }
        return OrderedPieces(count: odd.count, waiting: 2) { index in
            var writer = ReportJSONWriter(depth: 2)
            writer.patient(odd[index])
            return writer.bytes
        }
    }

    // MARK: Report types (keys sorted as JSONEncoder's .sortedKeys sorts them)

    mutating func report(_ r: ScanReport) {
        beginObject()
            key("complete"); bool(r.complete)
            key("dicomdir"); if let d = r.dicomdir { dicomdir(d) } else { null() }
            key("format"); int(r.format)
            key("ignored"); array(r.ignored) { w, file in
                w.beginObject()
                    w.key("path"); w.string(file.path)
                    w.key("reason"); w.string(file.reason.rawValue)
                    w.key("size"); w.int(file.size)
                w.endObject()
            }
            key("loose_files"); array(r.looseFiles) { w, file in
                w.beginObject()
                    w.key("kind"); w.string(file.kind)
                    w.key("path"); w.string(file.path)
                    w.key("size"); w.int(file.size)
                w.endObject()
            }
            key("other_dicomdirs"); array(r.otherDICOMDIRs) { w, d in w.dicomdir(d) }
            key("patients"); patients(r.patients)
            key("problems"); array(r.problems) { w, p in
                w.beginObject()
                    w.key("code"); w.string(p.code.rawValue)
                    w.key("message"); w.string(p.message)
                    w.key("path"); w.string(p.path)
                    w.key("severity"); w.string(p.severity.rawValue)
                w.endObject()
            }
            key("source"); beginObject()
                key("kind"); string(r.source.kind?.rawValue)
                key("path"); string(r.source.path)
                key("volume_label"); string(r.source.volumeLabel)
            endObject()
            key("totals"); beginObject()
                let t = r.totals
                key("damaged"); int(t.damaged)
                key("files"); int(t.files)
                key("instances"); int(t.instances)
                key("loose"); int(t.loose)
                key("missing"); int(t.missing)
                key("patients"); int(t.patients)
                key("series"); int(t.series)
                key("size"); int(t.size)
                key("studies"); int(t.studies)
            endObject()
        endObject()
    }

    mutating func dicomdir(_ d: ScanReport.DICOMDIRSummary) {
        beginObject()
            key("file_set_id"); string(d.fileSetID)
            key("inactive_records"); int(d.inactiveRecords)
            key("instances"); int(d.instances)
            key("missing_files"); int(d.missingFiles)
            key("offset_shift"); int(d.offsetShift)
            key("path"); string(d.path)
            key("patients"); int(d.patients)
            key("records"); int(d.records)
            key("referenced_files"); int(d.referencedFiles)
            key("series"); int(d.series)
            key("skipped_records"); int(d.skippedRecords)
            key("studies"); int(d.studies)
            key("transfer_syntax_uid"); string(d.transferSyntaxUID)
            key("tree_source"); string(d.treeSource.rawValue)
        endObject()
    }

    mutating func patient(_ p: ScanReport.Patient) {
        beginObject()
            key("birth_date"); string(p.birthDate)
            key("instance_count"); int(p.instanceCount)
            key("issuer_of_patient_id"); string(p.issuerOfPatientID)
            key("name"); string(p.name)
            key("name_alphabetic"); string(p.nameAlphabetic)
            key("name_ideographic"); string(p.nameIdeographic)
            key("name_phonetic"); string(p.namePhonetic)
            key("patient_id"); string(p.patientID)
            key("sex"); string(p.sex)
            key("size"); int(p.size)
            key("studies"); array(p.studies) { w, s in w.study(s) }
        endObject()
    }

    mutating func study(_ s: ScanReport.Study) {
        beginObject()
            key("accession_number"); string(s.accessionNumber)
            key("instance_count"); int(s.instanceCount)
            key("series"); array(s.series) { w, se in w.series(se) }
            key("size"); int(s.size)
            key("study_date"); string(s.studyDate)
            key("study_description"); string(s.studyDescription)
            key("study_id"); string(s.studyID)
            key("study_instance_uid"); string(s.studyInstanceUID)
            key("study_time"); string(s.studyTime)
        endObject()
    }

    mutating func series(_ s: ScanReport.Series) {
        beginObject()
            key("instance_count"); int(s.instanceCount)
            key("instances"); array(s.instances) { w, i in
                w.beginObject()
                    w.key("has_file_meta"); w.bool(i.hasFileMeta)
                    w.key("instance_number"); w.int(i.instanceNumber)
                    w.key("path"); w.string(i.path)
                    w.key("size"); w.int(i.size)
                    w.key("sop_class_uid"); w.string(i.sopClassUID)
                    w.key("sop_instance_uid"); w.string(i.sopInstanceUID)
                    w.key("transfer_syntax_uid"); w.string(i.transferSyntaxUID)
                w.endObject()
            }
            key("modality"); string(s.modality)
            key("series_description"); string(s.seriesDescription)
            key("series_instance_uid"); string(s.seriesInstanceUID)
            key("series_number"); int(s.seriesNumber)
            key("size"); int(s.size)
            key("transfer_syntaxes"); array(s.transferSyntaxes) { w, uid in w.string(uid) }
        endObject()
    }

    // MARK: Layout

    private mutating func newline() {
        bytes.append(0x0A)
        let width = 2 * depth
        if width <= ReportJSONWriter.spaces.count {
            ReportJSONWriter.spaces.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<width])) }
        } else {
            bytes.append(contentsOf: repeatElement(0x20, count: width))
        }
    }

    /// Indentation to copy from (the report nests 9 levels deep).
    private static let spaces = [UInt8](repeating: 0x20, count: 64)

    init(sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        self.sink = sink
        bytes.reserveCapacity(1 << 16 + 4096)
    }

    /// A writer that keeps what it writes in `bytes`, starting `depth`
    /// levels in (as an element of a container at that depth).
    init(depth: Int) {
        self.sink = nil
        self.depth = depth
    }

    /// Hands the piece written so far to `sink`.
    mutating func flush() {
        guard let sink else { return }
        bytes.withUnsafeBytes { sink($0) }
        bytes.removeAll(keepingCapacity: true)
    }

    /// The patients array, those at odd positions as written elsewhere.
    mutating func patients(_ all: [ScanReport.Patient]) {
        open(0x5B)
        for index in all.indices {
            element()
            if index % 2 == 1, let other = otherPatients {
                flush()
                other.next().withUnsafeBytes { sink?($0) }
            } else {
                patient(all[index])
            }
        }
        close(0x5D)
    }

    /// Starts an element of the innermost container (an array element or a key).
    private mutating func element() {
        if bytes.count >= 1 << 16, sink != nil { flush() }
        guard !hasElement.isEmpty else { return }
        if hasElement[hasElement.count - 1] { bytes.append(0x2C) }
        hasElement[hasElement.count - 1] = true
        newline()
    }

    private mutating func open(_ bracket: UInt8) {
        bytes.append(bracket)
        depth += 1
        hasElement.append(false)
    }

    private mutating func close(_ bracket: UInt8) {
        let empty = !hasElement.removeLast()
        depth -= 1
        if empty { bytes.append(0x0A) }
        newline()
        bytes.append(bracket)
    }

    mutating func beginObject() { open(0x7B) }

    mutating func endObject() { close(0x7D) }

    mutating func array<C: Collection>(_ items: C, _ body: (inout ReportJSONWriter, C.Element) -> Void) {
        open(0x5B)
        for item in items {
            element()
            body(&self, item)
        }
        close(0x5D)
    }

    /// `"name" : `; the value follows.
    mutating func key(_ name: StaticString) {
        element()
        bytes.append(0x22)
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [0x22, 0x20, 0x3A, 0x20])
    }

    mutating func null() { bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]) }

    mutating func bool(_ value: Bool) {
        if value { bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65]) }
    }

    mutating func int(_ value: Int?) {
        guard let value else { return null() }
        if value >= 0 && value < 10 { bytes.append(0x30 + UInt8(value)); return }
        // The decimal digits, as String(value) writes them, without the String.
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes: a 64-bit value has at most 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = 0x30 + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { start -= 1; buffer[start] = 0x2D }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    mutating func string(_ value: String?) {
        guard var value else { return null() }
        bytes.append(0x22)
        value.withUTF8 { utf8 in
            var plainFrom = 0
            for i in 0..<utf8.count {
                let byte = utf8[i]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                if plainFrom < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainFrom..<i])) }
                plainFrom = i + 1
                bytes.append(0x5C)
                switch byte {
                case 0x22: bytes.append(0x22)
                case 0x5C: bytes.append(0x5C)
                case 0x08: bytes.append(0x62)   // \b
                case 0x09: bytes.append(0x74)   // \t
                case 0x0A: bytes.append(0x6E)   // \n
                case 0x0C: bytes.append(0x66)   // \f
                case 0x0D: bytes.append(0x72)   // \r
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            if plainFrom < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainFrom..<utf8.count])) }
        }
        bytes.append(0x22)
    }
}
