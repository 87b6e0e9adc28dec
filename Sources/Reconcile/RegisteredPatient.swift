import DICOM

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

extension RegisteredPatient {
    /// An entry from a whole Patient's Name value (`alphabetic=ideographic=phonetic`):
    /// what a medium or the store says about a patient, to compare like a registry entry.
    public init(patientID: String, issuer: String?, personName: String?, birthDate: String?, sex: String?) {
        let name = PersonName(personName ?? "")
        func group(_ text: String) -> String? { text.isEmpty ? nil : text }
        self.init(patientID: patientID, issuer: issuer, alphabetic: group(name.alphabetic), ideographic: group(name.ideographic),
                  phonetic: group(name.phonetic), birthDate: birthDate, sex: sex)
    }
}
