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
