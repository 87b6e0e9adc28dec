import Foundation

/// A remembered reconciliation: instances from (foreign issuer, foreign
/// Patient ID) belong to a local patient.
public struct IdentityMapping: Sendable, Hashable, Codable {
    public var foreignIssuer: String?
    public var foreignID: String
    public var localID: String
    public var localIssuer: String?
    /// How it was decided: `explicit`, `auto`, `interactive`, `mapping-file`.
    public var how: String
    public var operatorName: String
    public var decidedAt: String

    public init(foreignIssuer: String?, foreignID: String, localID: String, localIssuer: String?, how: String,
                operatorName: String = "", decidedAt: String = "") {
        self.foreignIssuer = foreignIssuer
        self.foreignID = foreignID
        self.localID = localID
        self.localIssuer = localIssuer
        self.how = how
        self.operatorName = operatorName
        self.decidedAt = decidedAt
    }
}

extension IdentityMapping {
    /// Reads a mapping file for scripts: a CSV whose header names
    /// `foreign_id` and `local_id`, and optionally `foreign_issuer` and
    /// `local_issuer` (UTF-8 or Shift_JIS). Every row must be right, or
    /// nothing is taken.
    public static func parseCSV(_ data: Data, encoding: RegistryCSV.Encoding = .automatic) throws(RegistryCSV.FileError) -> [IdentityMapping] {
        let text = try RegistryCSV.decodeText(data, encoding).0
        let records = CSVRecords.parse(text)
        guard let header = records.first else {
            throw RegistryCSV.FileError(message: "the mapping file is empty (a header row naming foreign_id,local_id is needed)", rows: [])
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func index(_ name: String) -> Int? { names.firstIndex(of: name) }
        guard let foreign = index("foreign_id"), let local = index("local_id") else {
            throw RegistryCSV.FileError(message: "the mapping file's header must name foreign_id and local_id; it has: \(names.joined(separator: ", "))", rows: [])
        }
        var result: [IdentityMapping] = []
        var errors: [RegistryCSV.RowError] = []
        var seen: [String: Int] = [:]
        for record in records.dropFirst() {
            func cell(_ column: Int?) -> String? {
                guard let column, column < record.fields.count else { return nil }
                let value = record.fields[column].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
            if record.fields.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            guard let foreignID = cell(foreign), let localID = cell(local) else {
                errors.append(RegistryCSV.RowError(line: record.line, message: "foreign_id and local_id are required"))
                continue
            }
            let foreignIssuer = cell(index("foreign_issuer"))
            let key = (foreignIssuer ?? "") + "\u{1F}" + foreignID
            if let first = seen[key] {
                errors.append(RegistryCSV.RowError(line: record.line, message: "foreign_id \(foreignID) is already mapped on line \(first)"))
                continue
            }
            seen[key] = record.line
            result.append(IdentityMapping(foreignIssuer: foreignIssuer, foreignID: foreignID, localID: localID,
                                          localIssuer: cell(index("local_issuer")), how: "mapping-file"))
        }
        if !errors.isEmpty {
            throw RegistryCSV.FileError(message: "\(errors.count) row(s) of the mapping file cannot be taken", rows: errors)
        }
        return result
    }
}
