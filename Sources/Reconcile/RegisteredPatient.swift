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
