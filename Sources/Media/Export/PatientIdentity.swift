import DICOM
import Foundation

/// Who the instances of a file-set belong to: one PATIENT record per
/// identity (PS3.3 F.5: a patient is keyed by Patient ID *and* Issuer of
/// Patient ID), and what the export's one-patient check counts.
///
/// The rules (``PatientIdentity/assign(_:)``), for a patient the medium
/// must never merge with another:
/// - the same Patient ID under different issuers are different patients
///   (no issuer is an issuer of its own: "777" and "777 of HOSP_A" differ);
/// - instances without a Patient ID are told apart by name (its alphabetic
///   group, case and trailing `^` ignored, so `Yamada^Taro=山田^太郎` is
///   `YAMADA^TARO`) and sex;
/// - within one of these, more than one birth date (and, without a Patient
///   ID, more than one sex) means as many patients; instances that lack the
///   value form one more, as nobody can say whose they are.
///
/// Names are not compared when there is a Patient ID: one patient's name
/// is spelt differently by different systems.
public struct PatientIdentity: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Patient ID as the instances have it ("" none).
    public var patientID: String
    /// Issuer of Patient ID ("" none).
    public var issuer: String
    /// The normalized name, only for instances without a Patient ID.
    public var name: String
    /// Set when it tells this patient apart (the value all its instances
    /// that have one agree on), else "".
    public var birthDate: String
    /// Set like ``birthDate``, only without a Patient ID.
    public var sex: String

    /// The demographics of one instance, as its header has them.
    public struct Demographics: Sendable, Hashable {
        public var patientID: String
        public var issuer: String
        public var name: String
        public var birthDate: String
        public var sex: String
        public init(patientID: String?, issuer: String?, name: String?, birthDate: String?, sex: String?) {
            func clean(_ value: String?) -> String { (value ?? "").trimmingCharacters(in: .whitespaces) }
            self.patientID = clean(patientID); self.issuer = clean(issuer); self.name = clean(name)
            self.birthDate = clean(birthDate); self.sex = clean(sex).uppercased()
        }
        /// From a header (decoded with its Specific Character Set).
        public init(_ dataset: Dataset) {
            self.init(patientID: dataset.firstString(.patientID), issuer: dataset.firstString(.issuerOfPatientID),
                      name: dataset.firstString(.patientName), birthDate: dataset.firstString(.patientBirthDate),
                      sex: dataset.firstString(.patientSex))
        }
    }

    /// The identity of each instance (in order): equal identities are one patient.
    public static func assign(_ instances: [Demographics]) -> [PatientIdentity] {
        var identities = instances.map { d in
            PatientIdentity(patientID: d.patientID, issuer: d.issuer, name: d.patientID.isEmpty ? normalizedName(d.name) : "",
                            birthDate: "", sex: "")
        }
        // Split a patient by a value only where its instances disagree on it.
        func refine(_ value: (Demographics) -> String, _ field: WritableKeyPath<PatientIdentity, String>, when: (PatientIdentity) -> Bool) {
            let before = identities
            var values: [PatientIdentity: Set<String>] = [:]
            for (index, identity) in before.enumerated() where when(identity) {
                let v = value(instances[index])
                if !v.isEmpty { values[identity, default: []].insert(v) }
            }
            for index in before.indices where when(before[index]) {
                let known = values[before[index]] ?? []
                identities[index][keyPath: field] = known.count == 1 ? known.first! : value(instances[index])
            }
        }
        refine(\.sex, \.sex) { $0.patientID.isEmpty }
        refine(\.birthDate, \.birthDate) { _ in true }
        return identities
    }

    /// `Yamada^Taro=山田^太郎` → `YAMADA^TARO`: the alphabetic group (the
    /// whole name when it has none), upper case, without trailing `^` and spaces.
    static func normalizedName(_ name: String) -> String {
        let alphabetic = name.split(separator: "=", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let chosen = alphabetic.trimmingCharacters(in: .whitespaces).isEmpty ? name : alphabetic
        var result = chosen.uppercased().trimmingCharacters(in: .whitespaces)
        while result.hasSuffix("^") || result.hasSuffix(" ") { result.removeLast() }
        return result
    }

    public static func < (a: PatientIdentity, b: PatientIdentity) -> Bool {
        (a.patientID, a.issuer, a.name, a.birthDate, a.sex) < (b.patientID, b.issuer, b.name, b.birthDate, b.sex)
    }

    /// `777 (issuer HOSP_A)`, `no Patient ID: YAMADA^TARO, born 19500101`.
    public var description: String {
        var parts: [String] = []
        if !issuer.isEmpty { parts.append("issuer \(issuer)") }
        if !name.isEmpty { parts.append(name) }
        if !birthDate.isEmpty { parts.append("born \(birthDate)") }
        if !sex.isEmpty { parts.append("sex \(sex)") }
        if patientID.isEmpty { return "no Patient ID" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", ")) }
        return patientID + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
    }
}
