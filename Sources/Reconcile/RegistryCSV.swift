import DICOM
import Foundation

/// The clinic's patient list as exported by its own system: a CSV file
/// whose header row names at least `patient_id, issuer, alphabetic,
/// ideographic, phonetic, birth_date, sex` (any order, any case; other
/// columns ignored). Names are DICOM PN component groups (`Family^Given`),
/// birth dates `YYYYMMDD`, sex `M`, `F` or `O`; empty cells are allowed
/// except for `patient_id`.
///
/// Text is UTF-8 (with or without BOM) or Shift_JIS: detected (a file that
/// is valid UTF-8 is read as UTF-8) or given.
public enum RegistryCSV {
    public enum Encoding: String, Sendable, CaseIterable {
        case automatic = "auto"
        case utf8 = "utf-8"
        case shiftJIS = "shift_jis"
    }

    /// A row that cannot be taken, by line number (1 = the header).
    public struct RowError: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Why the file as a whole cannot be read.
    public struct FileError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        /// Every bad row (the file is taken whole or not at all).
        public var rows: [RowError]
        public var description: String {
            ([message] + rows.prefix(20).map { "  \($0)" } + (rows.count > 20 ? ["  … and \(rows.count - 20) more"] : []))
                .joined(separator: "\n")
        }
    }

    public static let requiredColumns = ["patient_id", "issuer", "alphabetic", "ideographic", "phonetic", "birth_date", "sex"]

    /// A CSV file as rows of named cells (header names lower-cased and
    /// trimmed, cells trimmed, blank rows dropped) with their line numbers.
    /// Throws when the file is empty or a `required` column is missing.
    public static func table(_ data: Data, encoding: Encoding = .automatic,
                             required: [String]) throws(FileError) -> (rows: [[String: String]], lines: [Int]) {
        var rows: [[String: String]] = []
        var lines: [Int] = []
        try forEachRow(data, encoding: encoding, required: required) { (row: [String: String], line: Int) throws(FileError) in
            rows.append(row)
            lines.append(line)
        }
        return (rows, lines)
    }

    /// The same rows, handed to `body` one at a time as the file is read.
    public static func forEachRow(_ data: Data, encoding: Encoding = .automatic, required: [String],
                                  _ body: ([String: String], Int) throws(FileError) -> Void) throws(FileError) {
        var names: [String] = []
        try forEachRecord(data, encoding: encoding, required: required, header: { names = $0 }) { (fields: CSVRecords.Fields, line: Int) throws(FileError) in
            var row: [String: String] = [:]
            for (index, name) in names.enumerated() where index < fields.count && row[name] == nil {
                if let value = fields.trimmed(index) { row[name] = value }
            }
            if !row.isEmpty { try body(row, line) }
        }
    }

    /// The same rows as the cells of `columns`, in that order: each
    /// trimmed, nil when empty or when the header has no such column (of
    /// columns named alike, the first that is not empty). A row is handed on
    /// when any of its cells under the header is not empty, named in
    /// `columns` or not — exactly the rows ``forEachRow(_:encoding:required:_:)``
    /// hands on, without a dictionary a row.
    public static func forEachRow(_ data: Data, encoding: Encoding = .automatic, required: [String], columns: [String],
                                  _ body: ([String?], Int) throws(FileError) -> Void) throws(FileError) {
        var width = 0
        var sources: [[Int]] = []
        var cells = [String?](repeating: nil, count: columns.count)
        try forEachRecord(data, encoding: encoding, required: required, header: { names in
            width = names.count
            sources = columns.map { column in names.indices.filter { names[$0] == column } }
        }) { (fields: CSVRecords.Fields, line: Int) throws(FileError) in
            let covered = min(width, fields.count)
            var index = 0
            while index < covered, fields.isBlank(index) { index += 1 }
            guard index < covered else { return }
            for (position, indices) in sources.enumerated() {
                var cell: String?
                for index in indices where index < fields.count {
                    cell = fields.trimmed(index)
                    if cell != nil { break }
                }
                cells[position] = cell
            }
            try body(cells, line)
        }
    }

    /// The records after the header row, whose names (lower-cased,
    /// trimmed) go to `header` first.
    private static func forEachRecord(_ data: Data, encoding: Encoding, required: [String], header: ([String]) -> Void,
                                      _ body: (CSVRecords.Fields, Int) throws(FileError) -> Void) throws(FileError) {
        let text = try decodeText(data, encoding).0
        var named = false
        try CSVRecords.forEachFields(text, unclosedQuote: { (line: Int) throws(FileError) in
            // Everything after the quote would be one cell: rows lost unseen.
            throw FileError(message: "a quoted cell opens on line \(line) and is never closed: the rest of the file would be one cell, so the file is refused (a stray or missing \")", rows: [])
        }) { (fields: CSVRecords.Fields, line: Int) throws(FileError) in
            guard named else {
                // Blank lines before the header row (a spreadsheet's export
                // may start with one) are passed over.
                if (0..<fields.count).allSatisfy({ fields.isBlank($0) }) { return }
                let found = (0..<fields.count).map { fields.string($0).trimmingCharacters(in: .whitespaces).lowercased() }
                let missing = required.filter { !found.contains($0) }
                guard missing.isEmpty else {
                    throw FileError(message: "the header row lacks the column(s) \(missing.joined(separator: ", ")); it has: \(found.joined(separator: ", "))", rows: [])
                }
                header(found)
                named = true
                return
            }
            try body(fields, line)
        }
        if !named {
            throw FileError(message: "the file is empty (a header row naming \(required.joined(separator: ",")) is needed)", rows: [])
        }
    }

    /// Parses the whole file. Throws ``FileError`` listing every bad row:
    /// the registry is updated from a file only when all of it is right.
    public static func parse(_ data: Data, encoding: Encoding = .automatic) throws(FileError) -> (patients: [RegisteredPatient], encoding: Encoding) {
        let used = try decodeText(data, encoding).1
        let (table, lines) = try table(data, encoding: used, required: requiredColumns)
        var patients: [RegisteredPatient] = []
        var errors: [RowError] = []
        var seen: [String: Int] = [:]
        for (cells, line) in zip(table, lines) {
            guard let id = cells["patient_id"] else {
                errors.append(RowError(line: line, message: "patient_id is empty"))
                continue
            }
            let issuer = cells["issuer"]
            let patient = RegisteredPatient(patientID: id, issuer: issuer, alphabetic: cells["alphabetic"],
                                            ideographic: cells["ideographic"], phonetic: cells["phonetic"],
                                            birthDate: cells["birth_date"], sex: cells["sex"]?.uppercased())
            var problems = patient.problems
            let key = (issuer ?? "") + "\u{1F}" + id
            if let first = seen[key] { problems.append("patient_id \(id)\(issuer.map { " (issuer \($0))" } ?? "") is already on line \(first)") }
            guard problems.isEmpty else {
                errors += problems.map { RowError(line: line, message: $0) }
                continue
            }
            seen[key] = line
            patients.append(patient)
        }
        if !errors.isEmpty {
            throw FileError(message: "\(errors.count) row(s) cannot be taken; nothing was registered", rows: errors)
        }
        return (patients, used)
    }

    static func decodeText(_ data: Data, _ encoding: Encoding) throws(FileError) -> (String, Encoding) {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        switch encoding {
        case .utf8:
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw FileError(message: "the file is not valid UTF-8 (try --encoding shift_jis)", rows: [])
            }
            return (text, .utf8)
        case .shiftJIS:
            guard let text = String(data: bytes, encoding: .shiftJIS) else {
                throw FileError(message: "the file is not valid Shift_JIS (try --encoding utf-8)", rows: [])
            }
            return (text, .shiftJIS)
        case .automatic:
            if let text = String(validating: bytes, as: UTF8.self) { return (text, .utf8) }
            if let text = String(data: bytes, encoding: .shiftJIS) { return (text, .shiftJIS) }
            throw FileError(message: "the file is neither UTF-8 nor Shift_JIS", rows: [])
        }
    }

    /// A DICOM DA value `YYYYMMDD` naming a real day (from 1850 on).
    public static func isDate(_ text: String) -> Bool { DICOMText.isDate(text) }

    /// `text.trimmingCharacters(in: .whitespaces)` (tabs and Unicode space
    /// separators at either end), on its UTF-8 bytes (DICOM's
    /// `trimmingWhitespaces`, the one implementation).
    public static func trimmingWhitespace(_ text: String) -> String {
        trimmingWhitespaces(text)
    }

    /// Why a name cannot be one PN component group, or nil.
    static func nameProblem(_ name: String) -> String? {
        if name.contains("=") { return "one component group only (no `=`; the three groups have their own columns)" }
        if name.contains("\\") { return "a backslash is not allowed in a name" }
        let components = name.split(separator: "^", omittingEmptySubsequences: false)
        if components.count > 5 { return "more than 5 components (Family^Given^Middle^Prefix^Suffix)" }
        if let long = components.first(where: { $0.count > 64 }) { return "component \"\(long)\" is longer than 64 characters" }
        return nil
    }
}

/// RFC 4180 records: quoted fields with `""` escapes and line breaks,
/// CRLF, LF or CR line ends (a CR alone: old Mac spreadsheets' CSV, read
/// as Python's csv module and spreadsheets read it).
struct CSVRecords {
    struct Record {
        var fields: [String]
        /// Line of the record's start (1-based).
        var line: Int
    }

    static func parse(_ text: String) -> [Record] {
        var records: [Record] = []
        forEach(text) { records.append($0) }
        return records
    }

    /// Hands each record to `body` as it is read (a large file is never
    /// held as records all at once).
    static func forEach<E: Error>(_ text: String, _ body: (Record) throws(E) -> Void) throws(E) {
        try forEachFields(text) { (fields: Fields, line: Int) throws(E) in
            try body(Record(fields: (0..<fields.count).map { fields.string($0) }, line: line))
        }
    }

    /// Where one field's bytes are: in the text, or (when quotes
    /// came out of its middle) in the record's scratch bytes.
    struct Span {
        var start: Int
        var end: Int
        var copied: Bool
    }

    /// One record's fields as UTF-8 bytes, valid during the call it is
    /// handed to.
    struct Fields {
        let text: UnsafeBufferPointer<UInt8>
        let spans: [Span]
        let scratch: [UInt8]

        var count: Int { spans.count }

        @inline(__always)
        func withBytes<R>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
            let span = spans[index]
            guard span.copied else { return body(UnsafeBufferPointer(rebasing: text[span.start..<span.end])) }
            return scratch.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[span.start..<span.end])) }
        }

        func string(_ index: Int) -> String {
            withBytes(index) { String(decoding: $0, as: UTF8.self) }
        }

        /// The field as ``RegistryCSV/trimmingWhitespace(_:)`` trims it; nil when nothing is left.
        func trimmed(_ index: Int) -> String? {
            withBytes(index) { bytes in
                let range = PlainText.whitespaceTrimmedRange(bytes)
                return range.isEmpty ? nil : String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            }
        }

        /// Whether nothing is left of the field once trimmed.
        func isBlank(_ index: Int) -> Bool {
            withBytes(index) { PlainText.whitespaceTrimmedRange($0).isEmpty }
        }
    }

    /// Each record's fields, read over the text's UTF-8 bytes: a field is
    /// one range of them unless quotes come out of its middle (then
    /// it is copied). Every byte the rules look at is ASCII, never part of
    /// a longer UTF-8 sequence, so the fields are the same scalars as read
    /// scalar by scalar.
    ///
    /// When the text ends inside quotes, `unclosedQuote` gets the line the
    /// quotes opened on before that last record is handed on (if it returns).
    static func forEachFields<E: Error>(_ text: String, unclosedQuote: (Int) throws(E) -> Void = { _ in },
                                        _ body: (Fields, Int) throws(E) -> Void) throws(E) {
        var failure: E?
        let read: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
            do throws(E) { try scan(bytes, unclosedQuote, body) } catch { failure = error }
        }
        if read == nil {
            let copy = Array(text.utf8)
            copy.withUnsafeBufferPointer { bytes in
                do throws(E) { try scan(bytes, unclosedQuote, body) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// The field being read.
    private struct FieldBuilder {
        var spans: [Span] = []
        var scratch: [UInt8] = []
        var start = 0
        var end = 0
        var isEmpty = true
        var copied = false

        /// `text[from..<to]` (not empty) goes on the end of the field.
        @inline(__always)
        mutating func append(_ text: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) {
            if isEmpty {
                start = from
                end = to
                isEmpty = false
            } else if !copied && end == from {
                end = to
            } else {
                if !copied {
                    let at = scratch.count
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: text[start..<end]))
                    start = at
                    copied = true
                }
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: text[from..<to]))
                end = scratch.count
            }
        }

        @inline(__always)
        mutating func endField() {
            spans.append(isEmpty ? Span(start: 0, end: 0, copied: false) : Span(start: start, end: end, copied: copied))
            isEmpty = true
            copied = false
        }

        mutating func endRecord() {
            spans.removeAll(keepingCapacity: true)
            scratch.removeAll(keepingCapacity: true)
        }
    }

    /// The rules: a quote opens quotes only while the field is still empty
    /// (elsewhere it is kept as it is); inside quotes `""` is a quote and a
    /// quote followed by anything else closes them (what follows joins the
    /// field); line breaks inside quotes are kept and counted; outside
    /// quotes LF, CRLF and a CR alone end a record; a record's line is the
    /// one it starts on; a last record without a line end counts when it
    /// holds anything; quotes still open at the end go to `unclosedQuote`
    /// with their line.
    private static func scan<E: Error>(_ text: UnsafeBufferPointer<UInt8>, _ unclosedQuote: (Int) throws(E) -> Void,
                                       _ body: (Fields, Int) throws(E) -> Void) throws(E) {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        var field = FieldBuilder()
        var quoted = false
        var quoteLine = 1
        var line = 1
        var recordLine = 1
        var index = 0
        let count = text.count
        while index < count {
            if quoted {
                var next = index
                while next < count, text[next] != quote {
                    // Line ends counted: LF, CRLF once, a CR alone.
                    if text[next] == lf || (text[next] == cr && (next + 1 == count || text[next + 1] != lf)) { line += 1 }
                    next += 1
                }
                if next > index { field.append(text, index, next) }
                guard next < count else { break }
                if next + 1 < count, text[next + 1] == quote {
                    field.append(text, next, next + 1)
                    index = next + 2
                } else {
                    quoted = false
                    index = next + 1
                }
                continue
            }
            switch text[index] {
            case quote where field.isEmpty:
                quoted = true
                quoteLine = line
                index += 1
            case comma:
                field.endField()
                index += 1
            case cr where index + 1 < count && text[index + 1] == lf:
                index += 1   // CRLF: the LF ends the record
            case cr, lf:
                field.endField()
                try body(Fields(text: text, spans: field.spans, scratch: field.scratch), recordLine)
                field.endRecord()
                line += 1
                recordLine = line
                index += 1
            default:
                // Up to the next comma or line end (a quote here is kept).
                var next = index + 1
                while next < count {
                    let byte = text[next]
                    if byte == comma || byte == lf || byte == cr { break }
                    next += 1
                }
                field.append(text, index, next)
                index = next
            }
        }
        if quoted { try unclosedQuote(quoteLine) }
        if !field.isEmpty || !field.spans.isEmpty {
            field.endField()
            try body(Fields(text: text, spans: field.spans, scratch: field.scratch), recordLine)
        }
    }
}
