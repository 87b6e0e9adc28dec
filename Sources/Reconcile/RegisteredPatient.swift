import DICOM

/// A patient of this clinic: an entry of the local registry, and a
/// candidate when a disc is matched to a local patient.
public struct RegisteredPatient: Sendable, Hashable, Codable {
    public var patientID: String
    public var issuer: String?
    /// PN component groups, each `Family^Given^Middle^Prefix^Suffix`.
    public var alphabetic: String?
    public var ideographic: String?
    public var phonetic: String?
    /// `YYYYMMDD`.
    public var birthDate: String?
    /// `M`, `F` or `O`.
    public var sex: String?

    public init(patientID: String, issuer: String? = nil, alphabetic: String? = nil, ideographic: String? = nil,
                phonetic: String? = nil, birthDate: String? = nil, sex: String? = nil) {
        self.patientID = patientID
        self.issuer = issuer
        self.alphabetic = alphabetic
        self.ideographic = ideographic
        self.phonetic = phonetic
        self.birthDate = birthDate
        self.sex = sex
    }
}

extension RegisteredPatient {
    /// The whole PN value (`alphabetic=ideographic=phonetic`, trailing empty
    /// groups dropped); nil when the entry has no name.
    public var personName: String? {
        var groups = [alphabetic ?? "", ideographic ?? "", phonetic ?? ""]
        while let last = groups.last, last.isEmpty { groups.removeLast() }
        return groups.isEmpty ? nil : groups.joined(separator: "=")
    }
}

extension RegisteredPatient {
    /// What makes this entry unusable, in words (empty: nothing).
    public var problems: [String] {
        var out: [String] = []
        if patientID.isEmpty { out.append("patient_id is empty") }
        if patientID.count > 64 || patientID.contains("\\") {
            out.append("patient_id \"\(patientID)\" is not a valid LO value (at most 64 characters, no backslash)")
        }
        if let birthDate, !RegistryCSV.isDate(birthDate) { out.append("birth_date \"\(birthDate)\" is not a date YYYYMMDD") }
        if let sex, !["M", "F", "O"].contains(sex) { out.append("sex \"\(sex)\" is not M, F or O") }
        for (group, name) in [("alphabetic", alphabetic), ("ideographic", ideographic), ("phonetic", phonetic)] {
            if let name, let problem = RegistryCSV.nameProblem(name) { out.append("\(group) \"\(name)\": \(problem)") }
        }
        return out
    }
}
