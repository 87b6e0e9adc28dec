import Foundation

/// A remembered reconciliation: instances from (foreign issuer, foreign
/// Patient ID) belong to a local patient.
///
/// A foreign Patient ID names a patient only together with its issuer, and
/// many discs carry no issuer: so the decision also keeps who the foreign
/// patient was (name, birth date, sex as on the medium), and is applied to
/// a later medium only when its patient is that person
/// (``PatientMatcher/whyNotRemembered(_:for:withIssuer:)``).
public struct IdentityMapping: Sendable, Hashable, Codable {
    public var foreignIssuer: String?
    public var foreignID: String
    /// The foreign patient's name (a whole PN value), birth date and sex as
    /// on the medium the decision was taken for; nil when not known (a
    /// mapping file row, or a decision remembered by an older discport).
    public var foreignName: String?
    public var foreignBirthDate: String?
    public var foreignSex: String?
    public var localID: String
    public var localIssuer: String?
    /// How it was decided: `explicit`, `auto`, `interactive`, `mapping-file`.
    public var how: String
    public var operatorName: String
    public var decidedAt: String

    public init(foreignIssuer: String?, foreignID: String, localID: String, localIssuer: String?, how: String,
                operatorName: String = "", decidedAt: String = "",
                foreignName: String? = nil, foreignBirthDate: String? = nil, foreignSex: String? = nil) {
        self.foreignIssuer = foreignIssuer
        self.foreignID = foreignID
        self.foreignName = foreignName
        self.foreignBirthDate = foreignBirthDate
        self.foreignSex = foreignSex
        self.localID = localID
        self.localIssuer = localIssuer
        self.how = how
        self.operatorName = operatorName
        self.decidedAt = decidedAt
    }
}

extension IdentityMapping {
    /// The foreign identity as shown: `ID (issuer)`, or the ID alone.
    public var foreignLabel: String {
        foreignID + (foreignIssuer.map { " (\($0))" } ?? "")
    }

    /// The foreign patient the decision was taken for, as a candidate the
    /// matcher can compare a medium's patient with; nil when the decision
    /// keeps no demographics.
    public var foreignPatient: RegisteredPatient? {
        guard foreignName != nil || foreignBirthDate != nil || foreignSex != nil else { return nil }
        return RegisteredPatient(patientID: foreignID, issuer: foreignIssuer, personName: foreignName,
                                 birthDate: foreignBirthDate, sex: foreignSex)
    }

    /// Reads a mapping file for scripts: a CSV whose header names
    /// `foreign_id` and `local_id`, and optionally `foreign_issuer` and
    /// `local_issuer` (UTF-8 or Shift_JIS). Every row must be right, or
    /// nothing is taken.
    public static func parseCSV(_ data: Data, encoding: RegistryCSV.Encoding = .automatic) throws(RegistryCSV.FileError) -> [IdentityMapping] {
        let (table, lines) = try RegistryCSV.table(data, encoding: encoding, required: ["foreign_id", "local_id"])
        var result: [IdentityMapping] = []
        var errors: [RegistryCSV.RowError] = []
        var seen: [String: Int] = [:]
        for (cells, line) in zip(table, lines) {
            guard let foreignID = cells["foreign_id"], let localID = cells["local_id"] else {
                errors.append(RegistryCSV.RowError(line: line, message: "foreign_id and local_id are required"))
                continue
            }
            let foreignIssuer = cells["foreign_issuer"]
            let problems = [(localID, "local_id"), (cells["local_issuer"], "local_issuer")].compactMap { value, name in
                value.flatMap { LocalPatientIdentifier.problem($0, name: name) }
            }
            if !problems.isEmpty {
                errors.append(RegistryCSV.RowError(line: line, message: problems.joined(separator: "; ")))
                continue
            }
            let key = (foreignIssuer ?? "") + "\u{1F}" + foreignID
            if let first = seen[key] {
                errors.append(RegistryCSV.RowError(line: line, message: "foreign_id \(foreignID) is already mapped on line \(first)"))
                continue
            }
            seen[key] = line
            result.append(IdentityMapping(foreignIssuer: foreignIssuer, foreignID: foreignID, localID: localID,
                                          localIssuer: cells["local_issuer"], how: "mapping-file"))
        }
        if !errors.isEmpty {
            throw RegistryCSV.FileError(message: "\(errors.count) row(s) of the mapping file cannot be taken", rows: errors)
        }
        return result
    }
}
