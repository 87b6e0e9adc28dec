import DICOM
import Foundation

/// The identity an instance is filed under in this clinic.
public struct LocalIdentity: Sendable, Hashable, Codable {
    /// The clinic's Patient ID.
    public var patientID: String
    /// The clinic's Issuer of Patient ID; nil: none is written (a foreign
    /// issuer is removed, since it does not describe the local ID).
    public var issuerOfPatientID: String?

    public init(patientID: String, issuerOfPatientID: String? = nil) {
        self.patientID = patientID
        self.issuerOfPatientID = issuerOfPatientID
    }
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
    public var description: String {
        "\(keyword) \(tag): \(oldValue.map { "\"\($0)\"" } ?? "(absent)") → \(newValue.map { "\"\($0)\"" } ?? "(removed)")"
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
///   (removed when none is given), with its Qualifiers Sequence.
/// - The foreign ID and issuer are added to Other Patient IDs Sequence
///   (0010,1002), Type of Patient ID `TEXT`, so they stay searchable.
/// - An item is appended to Original Attributes Sequence (0400,0561) whose
///   Modified Attributes Sequence holds every replaced element exactly as it
///   was (bytes verbatim), with Attribute Modification DateTime, Modifying
///   System, Source of Previous Values and Reason `COERCE` (PS3.3 C.12.1.1.9).
///
/// Every other element is written back byte for byte, in the source's
/// transfer syntax.
public struct IdentityCoercion: Sendable {
    public var identity: LocalIdentity
    /// Attribute Modification DateTime (DT). Pass the same value when an
    /// interrupted import is run again, so the rewritten files are the same.
    public var modificationDateTime: String
    /// Modifying System (0400,0563).
    public var modifyingSystem: String

    public init(identity: LocalIdentity, modificationDateTime: String, modifyingSystem: String = "DISCPORT") {
        self.identity = identity
        self.modificationDateTime = modificationDateTime
        self.modifyingSystem = modifyingSystem
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

    /// The identity's attributes this coercion replaces.
    static let identityTags: [Tag] = [.patientID, .issuerOfPatientID, Tag(0x0010, 0x0024)]

    /// Does `dataset` already carry the local identity?
    public func isSatisfied(by dataset: Dataset) -> Bool {
        let id = dataset.firstString(.patientID) ?? ""
        let issuer = dataset.firstString(.issuerOfPatientID)
        return id == identity.patientID && (issuer ?? "") == (identity.issuerOfPatientID ?? "")
            && (identity.issuerOfPatientID != nil || dataset[Tag(0x0010, 0x0024)] == nil)
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

        let originals = IdentityCoercion.identityTags.compactMap { dataset[$0] }
        let oldID = dataset.firstString(.patientID)
        let oldIssuer = dataset.firstString(.issuerOfPatientID)
        var changes: [AttributeChange] = []
        func record(_ tag: Tag, _ keyword: String, _ old: String?, _ new: String?) {
            if old != new { changes.append(AttributeChange(tag: tag, keyword: keyword, oldValue: old, newValue: new)) }
        }

        do throws(CharacterSetError) {
            // The foreign identity, kept searchable.
            if let oldID, !oldID.isEmpty {
                var others = dataset.items(.otherPatientIDsSequence)
                let known = others.contains {
                    $0.firstString(.patientID) == oldID && $0.firstString(.issuerOfPatientID) == oldIssuer
                }
                if !known {
                    var item = Dataset()
                    item.inheritedCharacterSet = dataset.characterSet
                    if let element = dataset[.patientID] { item.set(element) }
                    if let element = dataset[.issuerOfPatientID] { item.set(element) }
                    if let element = dataset[Tag(0x0010, 0x0024)] { item.set(element) }
                    try item.setString("TEXT", vr: .CS, for: Tag(0x0010, 0x0022))
                    others.append(item)
                    if let original = dataset[.otherPatientIDsSequence] {
                        dataset.setSequence(others, for: .otherPatientIDsSequence, undefinedLength: original.hasUndefinedLength)
                    } else {
                        dataset.setSequence(others, for: .otherPatientIDsSequence)
                    }
                    record(.otherPatientIDsSequence, "OtherPatientIDsSequence", nil, "+ \(oldID)\(oldIssuer.map { " (\($0))" } ?? "")")
                }
            }

            try dataset.setString(identity.patientID, vr: .LO, for: .patientID)
            record(.patientID, "PatientID", oldID, identity.patientID)
            if let issuer = identity.issuerOfPatientID {
                try dataset.setString(issuer, vr: .LO, for: .issuerOfPatientID)
            } else {
                _ = dataset.remove(.issuerOfPatientID)
            }
            record(.issuerOfPatientID, "IssuerOfPatientID", oldIssuer, identity.issuerOfPatientID)
            if dataset.remove(Tag(0x0010, 0x0024)) != nil {
                record(Tag(0x0010, 0x0024), "IssuerOfPatientIDQualifiersSequence", "(sequence)", nil)
            }
            // A group length would no longer be right (and is retired).
            _ = dataset.remove(Tag(0x0010, 0x0000))

            // What the values were, verbatim.
            var modified = Dataset()
            modified.inheritedCharacterSet = dataset.characterSet
            for element in originals { modified.set(element) }
            var entry = Dataset()
            entry.inheritedCharacterSet = dataset.characterSet
            entry.setSequence([modified], for: .modifiedAttributesSequence)
            try entry.setString(modificationDateTime, vr: .DT, for: Tag(0x0400, 0x0562))
            try entry.setString(modifyingSystem, vr: .LO, for: Tag(0x0400, 0x0563))
            try entry.setString(oldIssuer ?? "", vr: .LO, for: Tag(0x0400, 0x0564))
            try entry.setString("COERCE", vr: .CS, for: Tag(0x0400, 0x0565))
            var history = dataset.items(.originalAttributesSequence)
            history.append(entry)
            dataset.setSequence(history, for: .originalAttributesSequence,
                                undefinedLength: dataset[.originalAttributesSequence]?.hasUndefinedLength ?? true)
            _ = dataset.remove(Tag(0x0400, 0x0000))
        } catch {
            throw CoercionError("the new Patient ID cannot be written in the file's character set: \(error)", path: path)
        }

        var rewritten = file
        rewritten.dataset = dataset
        if rewritten.hasFileMeta {
            // The file is written by discport now.
            _ = rewritten.meta.remove(.implementationClassUID)
            _ = rewritten.meta.remove(.implementationVersionName)
        }
        let header: Data
        do throws(DICOMError) {
            header = try DICOMWriter.encode(rewritten)
        } catch {
            throw CoercionError("cannot write the re-identified header: \(error.message)", path: path)
        }
        return CoercedFile(header: header, replacedLength: replacedLength, changes: changes, dataset: dataset)
    }
}
