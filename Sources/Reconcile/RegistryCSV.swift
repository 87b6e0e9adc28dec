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
        let text = try decodeText(data, encoding).0
        var names: [String]?
        try CSVRecords.forEach(text) { (record: CSVRecords.Record) throws(FileError) in
            guard let header = names else {
                let found = record.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                let missing = required.filter { !found.contains($0) }
                guard missing.isEmpty else {
                    throw FileError(message: "the header row lacks the column(s) \(missing.joined(separator: ", ")); it has: \(found.joined(separator: ", "))", rows: [])
                }
                names = found
                return
            }
            var row: [String: String] = [:]
            for (index, name) in header.enumerated() where index < record.fields.count && row[name] == nil {
                let value = trimmingWhitespace(record.fields[index])
                if !value.isEmpty { row[name] = value }
            }
            if !row.isEmpty { try body(row, record.line) }
        }
        if names == nil {
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
    /// separators at either end), without Foundation's cost — the bulk of
    /// reading a large CSV — when neither end is one (the usual cell).
    public static func trimmingWhitespace(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return text }
        func isSpace(_ s: Unicode.Scalar) -> Bool {
            s == " " || s == "\t" || (s.value >= 0x80 && CharacterSet.whitespaces.contains(s))
        }
        return isSpace(first) || isSpace(last) ? text.trimmingCharacters(in: .whitespaces) : text
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
/// CRLF or LF line ends.
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
        var fields: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var recordLine = 1
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? scalars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let following = scalars.next() {
                        if following == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = following }
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty:
                quoted = true
            case ",":
                fields.append(field)
                field = ""
            case "\r":
                break
            case "\n":
                fields.append(field)
                try body(Record(fields: fields, line: recordLine))
                fields = []
                field = ""
                line += 1
                recordLine = line
            default:
                field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            try body(Record(fields: fields, line: recordLine))
        }
    }
}
