import Crypto
import DICOM
import Foundation

/// The identity an instance is filed under in this clinic.
public struct LocalIdentity: Sendable, Hashable, Codable {
    /// The clinic's Patient ID.
    public var patientID: String
    /// The clinic's Issuer of Patient ID; nil: none is written (a foreign
    /// issuer is removed, since it does not describe the local ID).
    public var issuerOfPatientID: String?
    /// Local demographics (from the registry). nil: the instance's value
    /// is kept. The name is a whole PN value, groups separated by `=`.
    public var patientName: String?
    public var birthDate: String?
    public var sex: String?

    public init(patientID: String, issuerOfPatientID: String? = nil, patientName: String? = nil,
                birthDate: String? = nil, sex: String? = nil) {
        self.patientID = patientID
        self.issuerOfPatientID = issuerOfPatientID
        self.patientName = patientName
        self.birthDate = birthDate
        self.sex = sex
    }

    /// The identity of a registry entry (its demographics included). Its
    /// name's half-width katakana are written full-width
    /// (``PersonName/withFullWidthKatakana``): Japanese practice writes no
    /// half-width kana in DICOM, and clinic systems often register them.
    public init(_ patient: RegisteredPatient) {
        self.init(patientID: patient.patientID, issuerOfPatientID: patient.issuer.flatMap { $0.isEmpty ? nil : $0 },
                  patientName: patient.personName.isEmpty ? nil : patient.personName.withFullWidthKatakana.dicomForm,
                  birthDate: patient.birthDate, sex: patient.sex)
    }

    /// Only the ID and issuer (demographics stay as the instance has them).
    public var withoutDemographics: LocalIdentity {
        LocalIdentity(patientID: patientID, issuerOfPatientID: issuerOfPatientID)
    }
}

/// What to do with the foreign Accession Number: it names an order of the
/// other hospital and means nothing here. Recorded either way.
public enum AccessionPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    case keep, clear
}

/// Why an instance could not be re-identified.
public struct CoercionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String?
    public var message: String
    public init(_ message: String, path: String? = nil) {
        self.message = message
        self.path = path
    }
    public var description: String { [path, message].compactMap { $0 }.joined(separator: ": ") }
}

/// One attribute changed by a coercion: `keyword: old → new`.
public struct AttributeChange: Sendable, Hashable, CustomStringConvertible {
    public var tag: Tag
    public var keyword: String
    public var oldValue: String?
    public var newValue: String?
    /// Set for a decision that changed nothing but is recorded (a kept value).
    public var note: String?

    public init(tag: Tag, keyword: String, oldValue: String?, newValue: String?, note: String? = nil) {
        self.tag = tag
        self.keyword = keyword
        self.oldValue = oldValue
        self.newValue = newValue
        self.note = note
    }

    public var description: String {
        if let note { return "\(keyword) \(tag): \(oldValue.map { "\"\($0)\"" } ?? "(absent)") \(note)" }
        return "\(keyword) \(tag): \(oldValue.map { "\"\($0)\"" } ?? "(absent)") → \(newValue.map { "\"\($0)\"" } ?? "(removed)")"
    }
}

/// A file rewritten by a coercion: the new leading bytes (Part 10 header and
/// the data set up to the Pixel Data element) that replace the first
/// ``replacedLength`` bytes of the source. Everything after them — the
/// pixel data and whatever follows — is copied from the source unchanged,
/// so pixels are never decoded or re-encoded.
public struct CoercedFile: Sendable {
    public var header: Data
    public var replacedLength: Int
    public var changes: [AttributeChange]
    /// The data set as rewritten (without the pixel data).
    public var dataset: Dataset
}

/// Files an instance under a local patient identity, per IHE Import
/// Reconciliation Workflow (RAD-61, attribute coercion):
///
/// - Patient ID becomes the local one; Issuer of Patient ID the local issuer
///   (removed when none is given), with its Qualifiers Sequence; Patient's
///   Name, Birth Date and Sex take the local values when the identity has
///   them.
/// - The foreign ID and issuer are added to Other Patient IDs Sequence
///   (0010,1002), Type of Patient ID `TEXT`, so they stay searchable.
/// - Accession Number is kept or cleared by ``accession``; Instance Origin
///   Status (0400,0600) becomes `IMPORTED`.
/// - Study, Series and SOP Instance UIDs are never changed unless invalid;
///   an invalid one is replaced by a UID derived from it (`2.25.` and 128
///   bits of its SHA-256), so every instance of a study gets the same new
///   UID, in every run.
/// - An item is appended to Original Attributes Sequence (0400,0561) whose
///   Modified Attributes Sequence holds every replaced element as it was,
///   with Attribute Modification DateTime, Modifying System, Source of
///   Previous Values and Reason `COERCE` (`CORRECT` for a ``Purpose/correct``
///   one) (PS3.3 C.12.1.1.9); existing items are kept. A changed Other
///   Patient IDs Sequence is recorded whole, as it was.
/// - When a new value cannot be written in the file's Specific Character
///   Set, the data set moves to `ISO_IR 192` (UTF-8): every text value is
///   decoded and written again in UTF-8, so no text is lost, and the old
///   (0008,0005) is recorded with the other originals. A value the old set
///   cannot decode, and a private value of unknown VR with non-ASCII bytes,
///   keep their bytes, and each is named in the changes.
///
/// Every other element is written back byte for byte, in the source's
/// transfer syntax; the pixel data is never touched.
public struct IdentityCoercion: Sendable {
    public var identity: LocalIdentity
    /// Attribute Modification DateTime (DT). Pass the same value when an
    /// interrupted import is run again, so the rewritten files are the same.
    public var modificationDateTime: String
    /// Modifying System (0400,0563).
    public var modifyingSystem: String
    public var accession: AccessionPolicy
    /// Set Instance Origin Status (0400,0600) to `IMPORTED`.
    public var markImported: Bool
    public var purpose: Purpose

    /// Why the identity changes: the Reason for the Attribute Modification
    /// (0400,0565), and what becomes of the identity replaced.
    public enum Purpose: Sendable, Hashable {
        /// A foreign instance filed under the local identity (`COERCE`); the
        /// foreign identity is kept in Other Patient IDs Sequence.
        case reconcile
        /// A mistaken local identity corrected (`CORRECT`, `discport
        /// reassign`). An identity this system wrote (the data set has an
        /// Original Attributes item of ``modifyingSystem``) names another
        /// local patient, so it is not added to Other Patient IDs as if it
        /// were another ID of this one; it stays in the new item's Modified
        /// Attributes. An identity from elsewhere (an instance imported as
        /// it was) is kept there, as for ``reconcile``.
        case correct
    }

    public init(identity: LocalIdentity, modificationDateTime: String, modifyingSystem: String = "DISCPORT",
                accession: AccessionPolicy = .keep, markImported: Bool = true, purpose: Purpose = .reconcile) {
        self.identity = identity
        self.modificationDateTime = modificationDateTime
        self.modifyingSystem = modifyingSystem
        self.accession = accession
        self.markImported = markImported
        self.purpose = purpose
    }

    /// DT value for `date` in UTC: `YYYYMMDDHHMMSS.FFFFFF+0000`.
    public static func dateTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2)
            + "." + pad((c.nanosecond ?? 0) / 1000, 6) + "+0000"
    }

    /// One target value: nil removes the element.
    private struct Target {
        var tag: Tag
        var keyword: String
        var vr: VR
        var value: String?
    }

    private static let qualifiers = Tag(0x0010, 0x0024)

    /// The values this coercion writes.
    private func targets(for dataset: Dataset) -> [Target] {
        var list = [
            Target(tag: .patientID, keyword: "PatientID", vr: .LO, value: identity.patientID),
            Target(tag: .issuerOfPatientID, keyword: "IssuerOfPatientID", vr: .LO, value: identity.issuerOfPatientID),
        ]
        if identity.issuerOfPatientID == nil || dataset.firstString(.issuerOfPatientID) != identity.issuerOfPatientID {
            list.append(Target(tag: IdentityCoercion.qualifiers, keyword: "IssuerOfPatientIDQualifiersSequence", vr: .SQ, value: nil))
        }
        if let name = identity.patientName {
            list.append(Target(tag: .patientName, keyword: "PatientName", vr: .PN, value: name))
        }
        if let birthDate = identity.birthDate {
            list.append(Target(tag: .patientBirthDate, keyword: "PatientBirthDate", vr: .DA, value: birthDate))
        }
        if let sex = identity.sex {
            list.append(Target(tag: .patientSex, keyword: "PatientSex", vr: .CS, value: sex))
        }
        if accession == .clear {
            list.append(Target(tag: .accessionNumber, keyword: "AccessionNumber", vr: .SH, value: ""))
        }
        return list
    }

    /// Does `dataset` already carry the local identity (nothing to change)?
    public func isSatisfied(by dataset: Dataset) -> Bool {
        targets(for: dataset).allSatisfy { target in
            if target.vr == .SQ { return dataset[target.tag] == nil }
            guard let value = target.value else { return dataset[target.tag] == nil }
            return (dataset.string(target.tag).map { DICOMText.trim($0, vr: .LO) } ?? "") == value
                && (value.isEmpty || dataset[target.tag] != nil)
        } && IdentityCoercion.invalidUIDTags.allSatisfy { tag in
            dataset.firstString(tag).map(UID.isValid) ?? true
        }
    }

    private static let invalidUIDTags: [(Tag)] = [.studyInstanceUID, .seriesInstanceUID, .sopInstanceUID]

    /// A valid UID derived from an invalid one: the same input always gives
    /// the same UID, so the instances of a study stay together.
    public static func repairedUID(for invalid: String) -> String {
        UID.derived(from: Array(SHA256.hash(data: Data(invalid.utf8))))
    }

    /// Rewrites a file read in header mode (``ReadOptions/header``: the data
    /// set up to Pixel Data). Returns nil when the file already carries the
    /// local identity (nothing to change).
    ///
    /// - Parameter fileSize: the source's size; the part after
    ///   ``DICOMFile/pixelDataOffset`` is what stays as it is.
    public func apply(to file: DICOMFile, fileSize: Int, path: String? = nil) throws(CoercionError) -> CoercedFile? {
        if let error = file.error {
            throw CoercionError("the file is damaged (\(error.message)), so it cannot be re-identified; import it with --as-is to keep it as it is", path: path)
        }
        guard DICOMWriter.canWrite(file.transferSyntax) else {
            throw CoercionError("files in \(file.transferSyntax.name) are not rewritten, so this one cannot be re-identified; import it with --as-is", path: path)
        }
        var dataset = file.dataset
        if isSatisfied(by: dataset) { return nil }
        let replacedLength = file.pixelDataOffset ?? fileSize
        guard replacedLength <= fileSize, replacedLength >= file.datasetOffset else {
            throw CoercionError("the pixel data offset \(replacedLength) lies outside the file (\(fileSize) bytes)", path: path)
        }

        let oldID = dataset.firstString(.patientID)
        let oldIssuer = dataset.firstString(.issuerOfPatientID)
        var targets = self.targets(for: dataset)
        if markImported {
            targets.append(Target(tag: .instanceOriginStatus, keyword: "InstanceOriginStatus", vr: .CS, value: "IMPORTED"))
        }
        var meta = file.meta
        var uidChanges: [(Tag, String, String)] = []
        for tag in IdentityCoercion.invalidUIDTags {
            if let old = dataset.firstString(tag), !UID.isValid(old) {
                uidChanges.append((tag, old, IdentityCoercion.repairedUID(for: old)))
            }
        }
        // The elements that change, as they were.
        var originals: [DataElement] = []
        var changes: [AttributeChange] = []
        for target in targets {
            let old = dataset[target.tag]
            let oldText = target.vr == .SQ ? (old == nil ? nil : "(sequence)") : dataset.string(target.tag).map { DICOMText.trim($0, vr: .LO) }
            if target.vr == .SQ ? old == nil : (oldText ?? "") == (target.value ?? "") && (old != nil) == (target.value != nil) {
                continue
            }
            // An element that was absent is recorded empty, so the item says
            // what the data set was without it (restorable as it was).
            originals.append(old ?? DataElement(tag: target.tag, vr: target.vr, bytes: Data()))
            changes.append(AttributeChange(tag: target.tag, keyword: target.keyword, oldValue: oldText, newValue: target.value))
        }
        if accession == .keep, let number = dataset.firstString(.accessionNumber) {
            // Not a change, but the policy is recorded with the coercion.
            changes.append(AttributeChange(tag: .accessionNumber, keyword: "AccessionNumber", oldValue: number,
                                           newValue: number, note: "kept (--accession keep)"))
        }
        for (tag, old, new) in uidChanges {
            if let element = dataset[tag] { originals.append(element) }
            let keyword = DataDictionary.entry(for: tag)?.keyword ?? tag.description
            changes.append(AttributeChange(tag: tag, keyword: keyword, oldValue: old, newValue: new))
        }

        let originalOthers = dataset[.otherPatientIDsSequence]
        do throws(CharacterSetError) {
            // A value the file's character set cannot hold: move to UTF-8.
            let texts = targets.compactMap(\.value)
            if !texts.allSatisfy({ dataset.characterSet.canRepresent($0) }) {
                let before = dataset[.specificCharacterSet]
                let oldText = dataset.string(.specificCharacterSet)
                let kept = try IdentityCoercion.convertToUTF8(&dataset)
                // The originals stay verbatim, in an item that names their
                // old character set (PS3.5 allows (0008,0005) in an item).
                originals.append(before ?? DataElement(tag: .specificCharacterSet, vr: .CS, bytes: Data()))
                changes.append(AttributeChange(tag: .specificCharacterSet, keyword: "SpecificCharacterSet",
                                               oldValue: oldText, newValue: "ISO_IR 192"))
                // Values that could not move with it are said, not hidden.
                for value in kept {
                    let tag = value.element.tag
                    changes.append(AttributeChange(tag: tag, keyword: DataDictionary.entry(for: tag)?.keyword ?? tag.description,
                                                   oldValue: value.text, newValue: nil,
                                                   note: "bytes kept as they were (\(value.reason)), now under ISO_IR 192"))
                }
            } else if let before = dataset[.specificCharacterSet], !texts.allSatisfy({ $0.utf8.allSatisfy { $0 < 0x80 } }),
                      dataset.characterSet.unknownTerms.isEmpty, !dataset.characterSet.canonicalTerms.isEmpty,
                      dataset.characterSet.terms != dataset.characterSet.canonicalTerms {
                // New text under a misspelled term (`ISO_IR100`, read
                // leniently): the term is written as PS3.3 spells it, so
                // other readers decode the new text too.
                let canonical = dataset.characterSet.canonicalTerms.joined(separator: "\\")
                originals.append(before)
                changes.append(AttributeChange(tag: .specificCharacterSet, keyword: "SpecificCharacterSet",
                                               oldValue: dataset.string(.specificCharacterSet), newValue: canonical))
                try dataset.setStrings(dataset.characterSet.canonicalTerms, vr: .CS, for: .specificCharacterSet)
            }

            // The foreign identity, kept searchable.
            let oldIDIsOurs = purpose == .correct && dataset.items(.originalAttributesSequence).contains {
                $0.firstString(Tag(0x0400, 0x0563)) == modifyingSystem
            }
            if let oldID, !oldID.isEmpty, !oldIDIsOurs, oldID != identity.patientID || oldIssuer != identity.issuerOfPatientID {
                var others = dataset.items(.otherPatientIDsSequence)
                let known = others.contains {
                    $0.firstString(.patientID) == oldID && $0.firstString(.issuerOfPatientID) == oldIssuer
                }
                if !known {
                    // A sequence that changes is recorded whole, as it was
                    // (PS3.3 C.12.1.1.9.2), in the old character set.
                    if let originalOthers { originals.append(originalOthers) }
                    var item = Dataset()
                    item.inheritedCharacterSet = dataset.characterSet
                    if let element = dataset[.patientID] { item.set(element) }
                    if let element = dataset[.issuerOfPatientID] { item.set(element) }
                    if let element = dataset[IdentityCoercion.qualifiers] { item.set(element) }
                    try item.setString("TEXT", vr: .CS, for: Tag(0x0010, 0x0022))
                    others.append(item)
                    if let original = dataset[.otherPatientIDsSequence] {
                        dataset.setSequence(others, for: .otherPatientIDsSequence, undefinedLength: original.hasUndefinedLength)
                    } else {
                        dataset.setSequence(others, for: .otherPatientIDsSequence)
                    }
                    changes.append(AttributeChange(tag: .otherPatientIDsSequence, keyword: "OtherPatientIDsSequence",
                                                   oldValue: nil, newValue: "+ \(oldID)\(oldIssuer.map { " (\($0))" } ?? "")"))
                }
            }

            for target in targets {
                if let value = target.value {
                    try dataset.setString(value, vr: target.vr, for: target.tag)
                } else {
                    dataset.remove(target.tag)
                }
            }
            for (tag, _, new) in uidChanges {
                try dataset.setString(new, vr: .UI, for: tag)
                if tag == .sopInstanceUID {
                    meta.set(DataElement(tag: .mediaStorageSOPInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID(new)))
                }
            }
            // Group lengths would no longer be right (and are retired).
            dataset.removeAll { $0.tag.element == 0x0000 && $0.tag.group != 0x0002 }

            // What the values were.
            var modified = Dataset()
            modified.inheritedCharacterSet = dataset.characterSet
            for element in originals { modified.set(element) }
            var entry = Dataset()
            entry.inheritedCharacterSet = dataset.characterSet
            entry.setSequence([modified], for: .modifiedAttributesSequence)
            try entry.setString(modificationDateTime, vr: .DT, for: Tag(0x0400, 0x0562))
            try entry.setString(modifyingSystem, vr: .LO, for: Tag(0x0400, 0x0563))
            try entry.setString(oldIssuer ?? "", vr: .LO, for: Tag(0x0400, 0x0564))
            try entry.setString(purpose == .correct ? "CORRECT" : "COERCE", vr: .CS, for: Tag(0x0400, 0x0565))
            var history = dataset.items(.originalAttributesSequence)
            history.append(entry)
            dataset.setSequence(history, for: .originalAttributesSequence,
                                undefinedLength: dataset[.originalAttributesSequence]?.hasUndefinedLength ?? true)
        } catch {
            throw CoercionError("the new values cannot be written: \(error)", path: path)
        }

        var rewritten = file
        rewritten.dataset = dataset
        rewritten.meta = meta
        if rewritten.hasFileMeta {
            // The file is written by discport now.
            rewritten.meta.remove(.implementationClassUID)
            rewritten.meta.remove(.implementationVersionName)
        }
        let header: Data
        do throws(DICOMError) {
            header = try DICOMWriter.encode(rewritten)
        } catch {
            throw CoercionError("cannot write the re-identified header: \(error.message)", path: path)
        }
        return CoercedFile(header: header, replacedLength: replacedLength, changes: changes, dataset: dataset)
    }

    /// Text VRs whose bytes depend on the Specific Character Set.
    private static func isCharacterSetText(_ vr: VR) -> Bool { vr.usesSpecificCharacterSet }

    /// An element a move to UTF-8 could not re-encode, so its bytes stay as
    /// they were (written in the old character set).
    struct KeptBytes {
        var element: DataElement
        /// The value as the old set decodes it (undecodable bytes shown as U+FFFD).
        var text: String
        /// Why: the old set could not decode it, or its VR is unknown.
        var reason: String
    }

    /// Moves a data set to ISO_IR 192, re-encoding every text value. A value
    /// its character set cannot decode (undeclared Shift_JIS, say) keeps its
    /// bytes: re-encoding would replace them with U+FFFD for good. So does a
    /// private element of unknown VR (UN, implicit VR) holding non-ASCII
    /// bytes, which may be text in the old set. Both are returned, so that
    /// the coercion records them.
    static func convertToUTF8(_ dataset: inout Dataset) throws(CharacterSetError) -> [KeptBytes] {
        var kept: [KeptBytes] = []
        let elements = try convertedElements(of: dataset, kept: &kept)
        let inherited = dataset.inheritedCharacterSet
        var result = Dataset(elements)
        result.inheritedCharacterSet = inherited
        result.set(DataElement(tag: .specificCharacterSet, vr: .CS, bytes: Data("ISO_IR 192".utf8)))
        dataset = result
        return kept
    }

    private static func convertedElements(of dataset: Dataset, kept: inout [KeptBytes]) throws(CharacterSetError) -> [DataElement] {
        let utf8 = try SpecificCharacterSet(terms: ["ISO_IR 192"])
        var out: [DataElement] = []
        for element in dataset.elements {
            switch element.value {
            case .bytes(let data) where isCharacterSetText(element.vr):
                let decoded = DICOMText.decode(data, vr: element.vr, characterSet: dataset.characterSet)
                if !decoded.problems.isEmpty {
                    kept.append(KeptBytes(element: element, text: decoded.text,
                                          reason: "not valid in \(dataset.characterSet)"))
                    out.append(element)
                    continue
                }
                var bytes = try utf8.encode(decoded.text, vr: element.vr)
                if bytes.count % 2 == 1 { bytes.append(element.vr.paddingByte) }
                out.append(DataElement(tag: element.tag, vr: element.vr, bytes: Data(bytes)))
            case .bytes(let data) where element.vr == .UN && element.tag.isPrivate
                && data.contains(where: { $0 >= 0x80 || $0 == 0x1B }):
                kept.append(KeptBytes(element: element, text: String(decoding: data, as: UTF8.self),
                                      reason: "private, of unknown VR; if it is text, it is in \(dataset.characterSet)"))
                out.append(element)
            case .sequence(let items):
                var converted: [Dataset] = []
                for item in items {
                    if item[.specificCharacterSet] != nil {
                        converted.append(item)      // it says its own set
                        continue
                    }
                    var copy = Dataset(try convertedElements(of: item, kept: &kept))
                    copy.inheritedCharacterSet = utf8
                    copy.isUndefinedLengthItem = item.isUndefinedLengthItem
                    converted.append(copy)
                }
                out.append(DataElement(tag: element.tag, vr: element.vr, value: .sequence(converted),
                                       hasUndefinedLength: element.hasUndefinedLength))
            default:
                out.append(element)
            }
        }
        return out
    }
}
