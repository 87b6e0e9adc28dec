import DICOM

/// A patient known to this clinic: an entry of the local registry, or a
/// candidate returned by another ``CandidateSource``.
///
/// Names are Person Name component groups as DICOM writes them
/// (`Family^Given^Middle^Prefix^Suffix`), one property per group; nil or
/// empty means the registry has no such form of the name. Birth date is
/// `YYYYMMDD`, sex `M`, `F` or `O`.
public struct RegisteredPatient: Sendable, Hashable, Codable {
    /// The clinic's Patient ID.
    public var patientID: String
    /// The clinic's Issuer of Patient ID, if it uses one.
    public var issuer: String?
    /// The alphabetic group, usually romaji: `Yamada^Taro`.
    public var alphabetic: String?
    /// The ideographic group, usually kanji: `山田^太郎`.
    public var ideographic: String?
    /// The phonetic group, usually kana: `ヤマダ^タロウ` or `やまだ^たろう`.
    public var phonetic: String?
    /// `YYYYMMDD`.
    public var birthDate: String?
    /// `M`, `F` or `O`.
    public var sex: String?

    public init(
        patientID: String, issuer: String? = nil,
        alphabetic: String? = nil, ideographic: String? = nil, phonetic: String? = nil,
        birthDate: String? = nil, sex: String? = nil
    ) {
        self.patientID = patientID
        self.issuer = issuer
        self.alphabetic = alphabetic
        self.ideographic = ideographic
        self.phonetic = phonetic
        self.birthDate = birthDate
        self.sex = sex
    }

    /// The name as one PN value, `alphabetic=ideographic=phonetic`.
    public var personName: PersonName {
        PersonName(alphabetic: alphabetic ?? "", ideographic: ideographic ?? "", phonetic: phonetic ?? "")
    }

    /// A group of the name ("" when absent).
    public subscript(group: PersonName.Group) -> String {
        switch group {
        case .alphabetic: return alphabetic ?? ""
        case .ideographic: return ideographic ?? ""
        case .phonetic: return phonetic ?? ""
        }
    }
}

/// What a disc says about its patient: the values to reconcile.
public struct PatientQuery: Sendable, Hashable {
    /// The whole Patient's Name value, decoded, groups separated by `=`
    /// (`Yamada^Tarou=山田^太郎=やまだ^たろう`).
    public var name: String?
    /// Patient's Birth Date as written (`YYYYMMDD`).
    public var birthDate: String?
    /// Patient's Sex as written.
    public var sex: String?
    /// The disc's Patient ID (meaningful only with its issuer).
    public var foreignPatientID: String?
    /// The disc's Issuer of Patient ID.
    public var foreignIssuer: String?

    public init(
        name: String? = nil, birthDate: String? = nil, sex: String? = nil,
        foreignPatientID: String? = nil, foreignIssuer: String? = nil
    ) {
        self.name = name
        self.birthDate = birthDate
        self.sex = sex
        self.foreignPatientID = foreignPatientID
        self.foreignIssuer = foreignIssuer
    }

    /// The patient module of a data set read from the disc: Patient's Name,
    /// Birth Date, Sex, Patient ID and Issuer of Patient ID (first values,
    /// decoded with the data set's Specific Character Set).
    public init(dataset: Dataset) {
        self.init(
            name: dataset.firstString(.patientName),
            birthDate: dataset.firstString(.patientBirthDate),
            sex: dataset.firstString(.patientSex),
            foreignPatientID: dataset.firstString(.patientID),
            foreignIssuer: dataset.firstString(.issuerOfPatientID)
        )
    }

    /// ``name`` split into its groups.
    public var personName: PersonName { PersonName(name ?? "") }
}

/// Where candidates for a disc's patient come from: the catalog's registry
/// now, a C-FIND or Modality Worklist query later.
///
/// A source may narrow the candidates by the query (by birth date, say), but
/// must not drop one that could match exactly: ``PatientMatcher`` only
/// ranks what it is given, and an automatic decision is only as safe as the
/// list is complete. When in doubt, return more.
public protocol CandidateSource: Sendable {
    /// The candidates for `query`, in any order.
    func candidates(for query: PatientQuery) throws -> [RegisteredPatient]
}

/// A fixed list of candidates, for tests and scripts. Returns every patient
/// for every query.
public struct InMemoryCandidates: CandidateSource {
    public var patients: [RegisteredPatient]

    public init(_ patients: [RegisteredPatient]) {
        self.patients = patients
    }

    public func candidates(for query: PatientQuery) throws -> [RegisteredPatient] {
        patients
    }
}
