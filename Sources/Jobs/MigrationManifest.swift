import Foundation
import DICOM
import Reconcile

/// One file to migrate: where it is and whose it is.
public struct MigrationRow: Sendable, Hashable, Codable {
    /// Line of the manifest (1 = the first data row of a JSONL file, 2 =
    /// the first data row after a CSV header); for layouts, the file's
    /// position in the walk.
    public var line: Int
    /// As the manifest names it (relative to the root).
    public var path: String
    /// Resolved against the root.
    public var absolutePath: String
    public var patientID: String
    public var patientName: String?
    public var birthDate: String?
    public var sex: String?
    public var studyDate: String?
    /// Rows sharing a study key form one study (one Study Instance UID).
    public var studyKey: String?
    public var studyDescription: String?
    public var modality: String?
    public var seriesKey: String?

    public init(line: Int, path: String, absolutePath: String, patientID: String, patientName: String? = nil,
                birthDate: String? = nil, sex: String? = nil, studyDate: String? = nil, studyKey: String? = nil,
                studyDescription: String? = nil, modality: String? = nil, seriesKey: String? = nil) {
        self.line = line
        self.path = path
        self.absolutePath = absolutePath
        self.patientID = patientID
        self.patientName = patientName
        self.birthDate = birthDate
        self.sex = sex
        self.studyDate = studyDate
        self.studyKey = studyKey
        self.studyDescription = studyDescription
        self.modality = modality
        self.seriesKey = seriesKey
    }

    /// A stable identity for resuming: the path (a manifest may be
    /// re-sorted between runs without redoing finished rows).
    public var key: String { path }

    /// The study this row belongs to: its key, else its patient and date.
    public var effectiveStudyKey: String { studyKey ?? "\(patientID)/\(studyDate ?? "")" }
}

/// A row that cannot be migrated, found before any work.
public struct MigrationRowProblem: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var line: Int
    public var path: String?
    public var message: String
    public var description: String { "line \(line)\(path.map { " (\($0))" } ?? ""): \(message)" }
}

/// What is to be migrated, gone through row by row as often as needed: the
/// pre-flight and the run each take the rows in turn, so neither holds every
/// row (a manifest keeps only its bytes; a folder layout, its rows).
public struct MigrationInput: Sendable {
    /// One row, or a row that cannot be read (with the reason).
    public typealias Item = Result<MigrationRow, MigrationRowProblem>

    private enum Source: Sendable {
        case csv(Data, root: String, encoding: RegistryCSV.Encoding)
        case jsonLines(Data, root: String)
        case rows([MigrationRow], problems: [MigrationRowProblem])
    }
    private let source: Source

    /// Rows already in memory (a folder layout, tests): the problems first.
    public init(rows: [MigrationRow], problems: [MigrationRowProblem] = []) {
        source = .rows(rows, problems: problems)
    }

    fileprivate init(csv data: Data, root: String, encoding: RegistryCSV.Encoding) {
        source = .csv(data, root: root, encoding: encoding)
    }

    fileprivate init(jsonLines data: Data, root: String) {
        source = .jsonLines(data, root: root)
    }

    /// Every item in order, the same each time. Throws `DecisionError` for
    /// a manifest that cannot be read at all (no header row, an encoding
    /// that does not decode), and whatever `body` throws.
    public func forEach(_ body: (Item) throws -> Void) throws {
        switch source {
        case .rows(let rows, let problems):
            for problem in problems { try body(.failure(problem)) }
            for row in rows { try body(.success(row)) }
        case .jsonLines(let data, let root):
            try MigrationManifest.forEachJSONLine(data, root: root, body)
        case .csv(let data, let root, let encoding):
            try MigrationManifest.forEachCSVRow(data, root: root, encoding: encoding, body)
        }
    }
}

/// Reads what is to be migrated: a manifest (CSV with a header row, or
/// JSON Lines) or a folder layout pattern.
public enum MigrationManifest {
    public static let columns = ["path", "patient_id", "patient_name", "birth_date", "sex", "study_date", "study_key",
                                 "study_description", "modality", "series_key"]

    /// A manifest, to be gone through row by row: `.jsonl`/`.ndjson` files
    /// as JSON Lines, anything else as CSV (UTF-8 or Shift_JIS). `path` and
    /// `patient_id` are required, the other columns optional; paths are
    /// relative to `root` (default: the manifest's folder). Rows that cannot
    /// be read come as problems, not errors: the pre-flight lists them all.
    /// The file is read once, here; a CSV without the required columns
    /// throws here too.
    public static func input(_ manifestPath: String, root: String? = nil,
                             encoding: RegistryCSV.Encoding = .automatic) throws -> MigrationInput {
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw DecisionError("cannot read the manifest \(manifestPath)")
        }
        let absolute = manifestPath.hasPrefix("/") ? manifestPath : FileManager.default.currentDirectoryPath + "/" + manifestPath
        var base = root ?? (absolute as NSString).deletingLastPathComponent
        if !base.hasPrefix("/") { base = FileManager.default.currentDirectoryPath + "/" + base }
        let lower = manifestPath.lowercased()
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") {
            return MigrationInput(jsonLines: data, root: base)
        }
        try checkCSVHeader(data, encoding: encoding)
        return MigrationInput(csv: data, root: base, encoding: encoding)
    }

    /// The whole manifest in memory (``input(_:root:encoding:)`` is what a
    /// migration uses).
    public static func read(_ manifestPath: String, root: String? = nil,
                            encoding: RegistryCSV.Encoding = .automatic) throws -> (rows: [MigrationRow], problems: [MigrationRowProblem]) {
        var rows: [MigrationRow] = []
        var problems: [MigrationRowProblem] = []
        try input(manifestPath, root: root, encoding: encoding).forEach { item in
            switch item {
            case .success(let row): rows.append(row)
            case .failure(let problem): problems.append(problem)
            }
        }
        return (rows, problems)
    }

    /// The header row names the required columns: checked on the first
    /// line (the whole file only when that is not enough, e.g. blank lines
    /// first), so that a file that is not a manifest is refused before
    /// the store is opened.
    static func checkCSVHeader(_ data: Data, encoding: RegistryCSV.Encoding) throws {
        func check(_ bytes: Data) throws(RegistryCSV.FileError) {
            try RegistryCSV.forEachRow(bytes, encoding: encoding, required: ["path", "patient_id"]) { (_: [String: String], _: Int) throws(RegistryCSV.FileError) in }
        }
        if (try? check(data[data.startIndex..<(data.firstIndex(of: 0x0A) ?? data.endIndex)])) != nil { return }
        do {
            try check(data)
        } catch {
            throw DecisionError("the manifest: \(error.description)")
        }
    }

    static func forEachCSVRow(_ data: Data, root: String, encoding: RegistryCSV.Encoding,
                              _ body: (MigrationInput.Item) throws -> Void) throws {
        // The body's errors cross the parser (which throws only its own)
        // in this box.
        var thrown: Error?
        do {
            try RegistryCSV.forEachRow(data, encoding: encoding, required: ["path", "patient_id"], columns: columns) { (cells: [String?], line: Int) throws(RegistryCSV.FileError) in
                guard thrown == nil else { return }
                do {
                    try body(row(cells: cells, line: line, root: root))
                } catch {
                    thrown = error
                }
            }
        } catch {
            throw DecisionError("the manifest: \(error.description)")
        }
        if let thrown { throw thrown }
    }

    static func forEachJSONLine(_ data: Data, root: String, _ body: (MigrationInput.Item) throws -> Void) throws {
        // UTF-8 (a BOM allowed), else Shift_JIS, as a CSV manifest: never
        // decoded with U+FFFD in place of what does not decode (a Shift_JIS
        // name read as UTF-8 was written into the objects as mojibake).
        let bytes = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data
        guard let text = String(validating: bytes, as: UTF8.self) ?? String(data: bytes, encoding: .shiftJIS) else {
            throw DecisionError("the manifest is neither UTF-8 nor Shift_JIS")
        }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                try body(.failure(MigrationRowProblem(line: index + 1, path: nil, message: "not a JSON object")))
                continue
            }
            var fields: [String: String] = [:]
            for (key, value) in object {
                if let text = value as? String { fields[key] = text } else if let number = value as? NSNumber { fields[key] = number.stringValue }
            }
            try body(row(fields, line: index + 1, root: root))
        }
    }

    /// One row from its named fields: required values, dates, sex.
    static func row(_ fields: [String: String], line: Int, root: String) -> Result<MigrationRow, MigrationRowProblem> {
        row(cells: columns.map { name in
            guard let text = fields[name].map(RegistryCSV.trimmingWhitespace), !text.isEmpty else { return nil }
            return text
        }, line: line, root: root)
    }

    /// Where each of ``columns`` is in the cells ``row(cells:line:root:)`` takes.
    private enum Column: Int {
        case path, patientID, patientName, birthDate, sex, studyDate, studyKey, studyDescription, modality, seriesKey
    }

    /// One row from the cells of ``columns`` in order, each trimmed, nil
    /// when empty (as `RegistryCSV.forEachRow(_:encoding:required:columns:_:)`
    /// hands them).
    static func row(cells: [String?], line: Int, root: String) -> Result<MigrationRow, MigrationRowProblem> {
        func value(_ column: Column) -> String? { cells[column.rawValue] }
        guard let path = value(.path) else {
            return .failure(MigrationRowProblem(line: line, path: nil, message: "path is empty"))
        }
        guard let patientID = value(.patientID) else {
            return .failure(MigrationRowProblem(line: line, path: path, message: "patient_id is empty"))
        }
        var studyDate: String?
        if let text = value(.studyDate) {
            guard let date = normalizedDate(text) else {
                return .failure(MigrationRowProblem(line: line, path: path, message: "study_date \"\(text)\" is not a date (YYYYMMDD or YYYY-MM-DD)"))
            }
            studyDate = date
        }
        var birthDate: String?
        if let text = value(.birthDate) {
            guard let date = normalizedDate(text) else {
                return .failure(MigrationRowProblem(line: line, path: path, message: "birth_date \"\(text)\" is not a date (YYYYMMDD or YYYY-MM-DD)"))
            }
            birthDate = date
        }
        let sex = value(.sex)?.uppercased()
        if let sex, sex != "M", sex != "F", sex != "O" {
            return .failure(MigrationRowProblem(line: line, path: path, message: "sex \"\(sex)\" is not M, F or O"))
        }
        // Text written into the objects: one value of its VR each.
        // (series_key is the converted objects' Series Description.)
        for (column, text, vr) in [("patient_name", value(.patientName), VR.PN), ("study_description", value(.studyDescription), .LO),
                                   ("modality", value(.modality), .CS), ("series_key", value(.seriesKey), .LO)] {
            if let text, let problem = DICOMText.singleValueProblem(text, vr: vr) {
                let yen = text.contains("\\") ? " (in a Shift_JIS manifest, the byte 5C that shows as ¥)" : ""
                return .failure(MigrationRowProblem(line: line, path: path, message: "\(column) \"\(text)\": \(problem)\(yen)"))
            }
        }
        let absolute = path.hasPrefix("/") ? path : joinedPath(root, path)
        return .success(MigrationRow(line: line, path: path, absolutePath: absolute, patientID: patientID,
                                     patientName: value(.patientName), birthDate: birthDate, sex: sex,
                                     studyDate: studyDate, studyKey: value(.studyKey),
                                     studyDescription: value(.studyDescription), modality: value(.modality)?.uppercased(),
                                     seriesKey: value(.seriesKey)))
    }

    /// `root + "/" + path` in one allocation (`+` makes two strings).
    private static func joinedPath(_ root: String, _ path: String) -> String {
        let rootCount = root.utf8.count
        return String(unsafeUninitializedCapacity: rootCount + 1 + path.utf8.count) { buffer in
            var end = buffer.initialize(fromContentsOf: root.utf8)
            buffer[end] = UInt8(ascii: "/")
            end = buffer[(end + 1)...].initialize(fromContentsOf: path.utf8)
            return end
        }
    }

    /// Old → new Patient IDs from a CSV with the columns `old_id,new_id`.
    public static func readIDMap(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DecisionError("cannot read \(path)") }
        var mapping: [String: String] = [:]
        var problems: [String] = []
        do {
            try RegistryCSV.forEachRow(data, required: ["old_id", "new_id"]) { (cells: [String: String], line: Int) throws(RegistryCSV.FileError) in
                guard let old = cells["old_id"], let new = cells["new_id"] else {
                    problems.append("line \(line): old_id and new_id are required")
                    return
                }
                if let earlier = mapping[old], earlier != new { problems.append("line \(line): \(old) is mapped twice") }
                mapping[old] = new
            }
        } catch {
            throw DecisionError("\(path): \(error.description)")
        }
        guard problems.isEmpty else { throw DecisionError("\(path): " + problems.joined(separator: "; ")) }
        return mapping
    }

    /// `YYYYMMDD`, `YYYY-MM-DD`, `YYYY/MM/DD` or `YYYY.MM.DD` as DICOM DA; nil when not a real day.
    /// Eight ASCII digits, with either no separator or the same one of
    /// `-/.` after the year and after the month (`2019-0101-` is refused).
    /// Any other character refuses the text — non-ASCII digits too: they
    /// never made a DA value.
    public static func normalizedDate(_ text: String) -> String? {
        guard text.utf8.count <= 10 else { return nil }
        // Over the bytes in place (iterating a small string's UTF8View
        // costs more than the rest of the check).
        var text = text
        let scanned = text.withUTF8 { bytes -> (digits: UInt64, separators: Int)? in
            var digits: UInt64 = 0   // the digits' bytes, the first lowest
            var count = 0
            var separator: UInt8 = 0
            var separators = 0
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard count < 8 else { return nil }
                    digits |= UInt64(byte) << (8 * count)
                    count += 1
                case UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "."):
                    guard (separators == 0 && count == 4) || (separators == 1 && count == 6 && byte == separator) else { return nil }
                    separator = byte
                    separators += 1
                default:
                    return nil
                }
            }
            return count == 8 && separators != 1 ? (digits, separators) : nil
        }
        guard let (digits, separators) = scanned else { return nil }
        let date = separators == 0 ? text : withUnsafeBytes(of: digits.littleEndian) { String(decoding: $0, as: UTF8.self) }
        return RegistryCSV.isDate(date) ? date : nil
    }

    // MARK: - Folder layouts

    /// Rows from a folder tree and a layout pattern such as
    /// `{patient_id}/{study_date:yyyyMMdd}/{*}`: one segment per folder
    /// level, each a literal name, one placeholder (`{patient_id}`,
    /// `{patient_name}`, `{study_date:FORMAT}`, `{study_key}`,
    /// `{study_description}`, `{modality}`, `{series_key}`), or `{*}` (the
    /// rest of the path, any depth; last). FORMAT uses `yyyy`, `MM`, `dd`
    /// and literal separators. Files whose path does not fit the pattern
    /// are problems. Hidden files are skipped.
    public static func fromLayout(root: String, pattern: String) throws -> (rows: [MigrationRow], problems: [MigrationRowProblem]) {
        let segments = pattern.split(separator: "/").map(String.init)
        guard !segments.isEmpty, !segments.dropLast().contains("{*}") else {
            throw DecisionError("--layout: `{*}` may only be the last segment")
        }
        guard segments.contains(where: { $0 == "{patient_id}" }) else {
            throw DecisionError("--layout must name {patient_id}")
        }
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw DecisionError("cannot read the folder \(root)")
        }
        var paths: [String] = []
        while let next = walker.nextObject() as? String {
            if (next as NSString).lastPathComponent.hasPrefix(".") { continue }
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + next, isDirectory: &isFolder), !isFolder.boolValue {
                paths.append(next)
            }
        }
        paths.sort()
        var rows: [MigrationRow] = []
        var problems: [MigrationRowProblem] = []
        let rest = segments.last == "{*}"
        let folders = rest ? Array(segments.dropLast()) : segments
        for (index, path) in paths.enumerated() {
            let components = path.split(separator: "/").map(String.init)
            var fields: [String: String] = ["path": path]
            var notADate: (column: String, folder: String)?
            // The pattern names the folders; the file's own name is free
            // (with `{*}`, any depth of folders may come in between).
            var fits = rest ? components.count > folders.count : components.count == folders.count + 1
            for (position, segment) in folders.enumerated() where fits {
                let component = components[position]
                if segment.hasPrefix("{") && segment.hasSuffix("}") {
                    let parts = segment.dropFirst().dropLast().split(separator: ":", maxSplits: 1).map(String.init)
                    guard columns.contains(parts[0]), parts[0] != "path" else {
                        throw DecisionError("--layout: unknown placeholder \(segment)")
                    }
                    if parts.count == 2 {
                        guard let date = date(component, format: parts[1]) else {
                            if dateDigits(component, format: parts[1]) != nil {
                                // The form fits: the day is what is wrong (2024-02-30).
                                notADate = (parts[0], component)
                            }
                            fits = false
                            break
                        }
                        fields[parts[0]] = date
                    } else {
                        fields[parts[0]] = component
                    }
                } else if segment != component {
                    fits = false
                }
            }
            guard fits else {
                if let notADate {
                    problems.append(MigrationRowProblem(line: index + 1, path: path, message: "\(notADate.column) \"\(notADate.folder)\" (a folder of the layout \(pattern)) is not a date"))
                    continue
                }
                problems.append(MigrationRowProblem(line: index + 1, path: path, message: "does not fit the layout \(pattern)"))
                continue
            }
            switch row(fields, line: index + 1, root: root) {
            case .success(let row): rows.append(row)
            case .failure(let problem): problems.append(problem)
            }
        }
        return (rows, problems)
    }

    /// A folder name read with a date format of `yyyy`, `MM`, `dd` and literals.
    static func date(_ text: String, format: String) -> String? {
        guard let value = dateDigits(text, format: format) else { return nil }
        return RegistryCSV.isDate(value) ? value : nil
    }

    /// `yyyyMMdd` from a folder name of the format's form, a real day or
    /// not (ASCII digits only).
    static func dateDigits(_ text: String, format: String) -> String? {
        var parts: [String: String] = [:]
        var input = Substring(text)
        var pattern = Substring(format)
        while let next = pattern.first {
            if let token = ["yyyy", "MM", "dd"].first(where: { pattern.hasPrefix($0) }) {
                let value = input.prefix(token.count)
                guard value.count == token.count, value.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
                parts[token] = String(value)
                input = input.dropFirst(token.count)
                pattern = pattern.dropFirst(token.count)
            } else {
                guard input.first == next else { return nil }
                input = input.dropFirst()
                pattern = pattern.dropFirst()
            }
        }
        guard input.isEmpty, let year = parts["yyyy"], let month = parts["MM"], let day = parts["dd"] else { return nil }
        return year + month + day
    }
}
