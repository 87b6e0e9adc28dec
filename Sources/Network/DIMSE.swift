import DICOM
import Foundation

/// DIMSE command fields (PS3.7 §E.1).
public enum CommandField: UInt16, Sendable {
    case cStoreRQ = 0x0001, cStoreRSP = 0x8001
    case cGetRQ = 0x0010, cGetRSP = 0x8010
    case cFindRQ = 0x0020, cFindRSP = 0x8020
    case cMoveRQ = 0x0021, cMoveRSP = 0x8021
    case cEchoRQ = 0x0030, cEchoRSP = 0x8030
    case cCancelRQ = 0x0FFF

    public var name: String {
        switch self {
        case .cStoreRQ: return "C-STORE-RQ"
        case .cStoreRSP: return "C-STORE-RSP"
        case .cGetRQ: return "C-GET-RQ"
        case .cGetRSP: return "C-GET-RSP"
        case .cFindRQ: return "C-FIND-RQ"
        case .cFindRSP: return "C-FIND-RSP"
        case .cMoveRQ: return "C-MOVE-RQ"
        case .cMoveRSP: return "C-MOVE-RSP"
        case .cEchoRQ: return "C-ECHO-RQ"
        case .cEchoRSP: return "C-ECHO-RSP"
        case .cCancelRQ: return "C-CANCEL-RQ"
        }
    }
}

/// A DIMSE status (PS3.7 Annex C): success, warning, failure, pending, cancel.
public struct DIMSEStatus: Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: UInt16
    public init(_ code: UInt16) { self.code = code }

    public static let success = DIMSEStatus(0x0000)
    public static let pending = DIMSEStatus(0xFF00)
    public static let pendingWarning = DIMSEStatus(0xFF01)
    public static let cancel = DIMSEStatus(0xFE00)
    /// C-STORE: refused, out of resources.
    public static let outOfResources = DIMSEStatus(0xA700)
    /// C-STORE: data set does not match SOP class.
    public static let dataSetMismatch = DIMSEStatus(0xA900)
    /// C-STORE/C-FIND: cannot understand.
    public static let cannotUnderstand = DIMSEStatus(0xC000)
    /// SOP class not supported.
    public static let sopClassNotSupported = DIMSEStatus(0x0122)
    /// Processing failure.
    public static let processingFailure = DIMSEStatus(0x0110)
    /// Unrecognized operation.
    public static let unrecognizedOperation = DIMSEStatus(0x0211)

    public enum Kind: String, Sendable { case success, warning, failure, pending, cancel }

    public var kind: Kind {
        switch code {
        case 0x0000: return .success
        case 0x0001, 0x0107, 0x0116, 0xB000...0xBFFF: return .warning
        case 0xFF00, 0xFF01: return .pending
        case 0xFE00: return .cancel
        default: return .failure
        }
    }

    /// Success or warning: the operation was done.
    public var isDone: Bool { kind == .success || kind == .warning }

    public var hex: String { String(format: "0x%04X", code) }

    public var description: String {
        let meaning: String
        switch code {
        case 0x0000: meaning = "success"
        case 0xFF00: meaning = "pending"
        case 0xFF01: meaning = "pending (optional keys not supported)"
        case 0xFE00: meaning = "cancelled"
        case 0x0001: meaning = "warning: requested optional attributes not supported"
        case 0x0107: meaning = "warning: attribute list error"
        case 0x0110: meaning = "processing failure"
        case 0x0122: meaning = "SOP class not supported"
        case 0x0211: meaning = "unrecognized operation"
        case 0xA700...0xA7FF: meaning = "refused: out of resources"
        case 0xA701: meaning = "refused: out of resources (matches)"
        case 0xA801: meaning = "refused: move destination unknown"
        case 0xA900...0xA9FF: meaning = "error: data set does not match SOP class"
        case 0xB000: meaning = "warning: coercion of data elements"
        case 0xB007: meaning = "warning: data set does not match SOP class"
        case 0xB006: meaning = "warning: elements discarded"
        case 0xC000...0xCFFF: meaning = "error: cannot understand"
        default: meaning = kind.rawValue
        }
        return "\(hex) \(meaning)"
    }
}

/// A DIMSE command set (group 0000), encoded implicit VR little endian
/// with its group length (PS3.7 §6.3, §9.3).
public struct DIMSECommand: Sendable {
    public var dataset: Dataset

    /// (0000,0800) value for "no data set".
    public static let noDataSet = 0x0101

    public init(dataset: Dataset) {
        self.dataset = dataset
    }

    /// A new command set; `hasDataset` sets (0000,0800).
    public init(_ field: CommandField, hasDataset: Bool) {
        dataset = Dataset()
        dataset.setIntegers([Int(field.rawValue)], vr: .US, for: .commandField)
        dataset.setIntegers([hasDataset ? 0x0000 : DIMSECommand.noDataSet], vr: .US, for: .commandDataSetType)
    }

    // MARK: Requests and responses

    public static func echoRQ(messageID: UInt16) -> DIMSECommand {
        var c = DIMSECommand(.cEchoRQ, hasDataset: false)
        c.setUID(UIDs.verification, .affectedSOPClassUID)
        c.messageID = messageID
        return c
    }

    public static func storeRQ(messageID: UInt16, sopClassUID: String, sopInstanceUID: String, priority: UInt16 = 0,
                               moveOriginatorAE: String? = nil, moveOriginatorMessageID: UInt16? = nil) -> DIMSECommand {
        var c = DIMSECommand(.cStoreRQ, hasDataset: true)
        c.setUID(sopClassUID, .affectedSOPClassUID)
        c.messageID = messageID
        c.dataset.setIntegers([Int(priority)], vr: .US, for: .priority)
        c.setUID(sopInstanceUID, .affectedSOPInstanceUID)
        if let moveOriginatorAE {
            try? c.dataset.setString(moveOriginatorAE, vr: .AE, for: .moveOriginatorApplicationEntityTitle)
        }
        if let moveOriginatorMessageID {
            c.dataset.setIntegers([Int(moveOriginatorMessageID)], vr: .US, for: .moveOriginatorMessageID)
        }
        return c
    }

    public static func findRQ(messageID: UInt16, sopClassUID: String, priority: UInt16 = 0) -> DIMSECommand {
        var c = DIMSECommand(.cFindRQ, hasDataset: true)
        c.setUID(sopClassUID, .affectedSOPClassUID)
        c.messageID = messageID
        c.dataset.setIntegers([Int(priority)], vr: .US, for: .priority)
        return c
    }

    public static func cancelRQ(respondingTo messageID: UInt16) -> DIMSECommand {
        var c = DIMSECommand(.cCancelRQ, hasDataset: false)
        c.dataset.setIntegers([Int(messageID)], vr: .US, for: .messageIDBeingRespondedTo)
        return c
    }

    /// The response to `request` with `status` (affected SOP class and
    /// instance copied from the request).
    public static func response(to request: DIMSECommand, field: CommandField, status: DIMSEStatus,
                                hasDataset: Bool = false, errorComment: String? = nil) -> DIMSECommand {
        var c = DIMSECommand(field, hasDataset: hasDataset)
        if let uid = request.affectedSOPClassUID { c.setUID(uid, .affectedSOPClassUID) }
        c.dataset.setIntegers([Int(request.messageID ?? 0)], vr: .US, for: .messageIDBeingRespondedTo)
        c.dataset.setIntegers([Int(status.code)], vr: .US, for: .status)
        if let uid = request.affectedSOPInstanceUID { c.setUID(uid, .affectedSOPInstanceUID) }
        if let errorComment, !errorComment.isEmpty {
            try? c.dataset.setString(String(errorComment.prefix(64)), vr: .LO, for: .errorComment)
        }
        return c
    }

    // MARK: Fields

    public var field: CommandField? { dataset.integer(.commandField).flatMap { CommandField(rawValue: UInt16(truncatingIfNeeded: $0)) } }
    public var rawField: Int? { dataset.integer(.commandField) }

    public var messageID: UInt16? {
        get { dataset.integer(.messageID).map { UInt16(truncatingIfNeeded: $0) } }
        set { if let newValue { dataset.setIntegers([Int(newValue)], vr: .US, for: .messageID) } else { dataset.remove(.messageID) } }
    }

    public var messageIDBeingRespondedTo: UInt16? { dataset.integer(.messageIDBeingRespondedTo).map { UInt16(truncatingIfNeeded: $0) } }
    public var affectedSOPClassUID: String? { dataset.firstString(.affectedSOPClassUID) }
    public var affectedSOPInstanceUID: String? { dataset.firstString(.affectedSOPInstanceUID) }
    public var status: DIMSEStatus? { dataset.integer(.status).map { DIMSEStatus(UInt16(truncatingIfNeeded: $0)) } }
    public var errorComment: String? { dataset.firstString(.errorComment) }
    public var hasDataset: Bool { (dataset.integer(.commandDataSetType) ?? DIMSECommand.noDataSet) != DIMSECommand.noDataSet }

    mutating func setUID(_ uid: String, _ tag: Tag) {
        try? dataset.setString(UID.trimmed(uid), vr: .UI, for: tag)
    }

    // MARK: Encoding

    /// The command set with (0000,0000) Command Group Length, implicit VR LE.
    public func encoded() throws(DICOMError) -> Data {
        var body = dataset
        body.remove(.commandGroupLength)
        let rest = try DICOMWriter.encode(body, transferSyntax: .implicitVRLittleEndian)
        var withLength = Dataset()
        withLength.setIntegers([rest.count], vr: .UL, for: .commandGroupLength)
        var out = try DICOMWriter.encode(withLength, transferSyntax: .implicitVRLittleEndian)
        out.append(rest)
        return out
    }

    /// Parses a received command set.
    public init(decoding data: Data) throws(DICOMError) {
        let file = try DICOMFile(datasetData: data, transferSyntax: .implicitVRLittleEndian)
        guard file.dataset.contains(.commandField) else {
            throw DICOMError(.malformed, "command set without (0000,0100) Command Field")
        }
        self.dataset = file.dataset
    }
}

/// Well-known UIDs of the DICOM network services.
public enum UIDs {
    public static let verification = "1.2.840.10008.1.1"
    public static let patientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
    public static let patientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
    public static let patientRootGet = "1.2.840.10008.5.1.4.1.2.1.3"
    public static let studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"
    public static let studyRootMove = "1.2.840.10008.5.1.4.1.2.2.2"
    public static let studyRootGet = "1.2.840.10008.5.1.4.1.2.2.3"
    public static let modalityWorklistFind = "1.2.840.10008.5.1.4.31"

    /// Whether `uid` is a storage SOP class (PS3.4 Annex B.5) by the UID
    /// registry: a SOP class whose name says Storage, other than storage
    /// commitment and the DICOMDIR's Media Storage Directory.
    public static func isStorageClass(_ uid: String) -> Bool {
        guard let info = UIDRegistry.info(for: uid), info.type == "SOP Class" else { return false }
        return info.name.contains("Storage") && !info.name.contains("Commitment") && !info.name.hasPrefix("Media Storage Directory")
    }
}
