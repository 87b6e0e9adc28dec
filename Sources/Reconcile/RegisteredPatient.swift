import DICOM

/// The one check of a local Patient ID or Issuer of Patient ID before it is
/// taken (import, reassign, the registry, mapping files, migrations): both
/// are written as LO values, so a value LO cannot hold would be written as
/// something else (a backslash splits it into two values).
public enum LocalPatientIdentifier {
    /// What makes `value` unusable as a Patient ID or issuer, in words
    /// naming it (`name`: how the user gave it, e.g. `--patient-id`); nil
    /// when it is fine. LO (PS3.5 6.2): at most 64 characters, no backslash,
    /// no control characters (ESC neither: a value given as text has no
    /// ISO 2022 escapes); leading and trailing spaces are padding that
    /// DICOM ignores, so they are refused too rather than silently lost.
    public static func problem(_ value: String, name: String) -> String? {
        if value.isEmpty { return "\(name) is empty" }
        let shown = "\(name) \"\(value.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())\""
        if let problem = DICOMText.singleValueProblem(value, vr: .LO) {
            return "\(shown): \(problem); not a valid Patient ID or issuer"
        }
        if value.first == " " || value.last == " " {
            return "\(shown) begins or ends with a space, which DICOM ignores: give it without"
        }
        return nil
    }
}

extension RegisteredPatient {
    /// What makes this entry unusable, in words (empty: nothing).
    public var problems: [String] {
        var out: [String] = []
        if let problem = LocalPatientIdentifier.problem(patientID, name: "patient_id") { out.append(problem) }
        if let issuer, let problem = LocalPatientIdentifier.problem(issuer, name: "issuer") { out.append(problem) }
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
