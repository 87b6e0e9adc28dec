import NIOCore

/// The DICOM application context name (PS3.7 Annex A.2.1).
public let dicomApplicationContext = "1.2.840.10008.3.1.1.1"

/// A protocol data unit of the DICOM upper layer (PS3.8 §9.3): what
/// travels on the TCP connection. Integers are big endian; AE titles are
/// 16 bytes, space padded.
public enum PDU: Sendable, Equatable {
    case associateRQ(AssociateRequest)
    case associateAC(AssociateAccept)
    case associateRJ(AssociateReject)
    /// P-DATA-TF: one or more presentation data values.
    case data([PDV])
    case releaseRQ
    case releaseRP
    case abort(Abort)

    public var typeCode: UInt8 {
        switch self {
        case .associateRQ: return 0x01
        case .associateAC: return 0x02
        case .associateRJ: return 0x03
        case .data: return 0x04
        case .releaseRQ: return 0x05
        case .releaseRP: return 0x06
        case .abort: return 0x07
        }
    }

    public var name: String {
        switch self {
        case .associateRQ: return "A-ASSOCIATE-RQ"
        case .associateAC: return "A-ASSOCIATE-AC"
        case .associateRJ: return "A-ASSOCIATE-RJ"
        case .data: return "P-DATA-TF"
        case .releaseRQ: return "A-RELEASE-RQ"
        case .releaseRP: return "A-RELEASE-RP"
        case .abort: return "A-ABORT"
        }
    }
}

/// A presentation data value: a fragment of a command set or data set on
/// one presentation context (PS3.8 §9.3.5.1, Annex E.2).
public struct PDV: Sendable, Equatable {
    public var presentationContextID: UInt8
    /// Message control header bit 0: command (true) or data set.
    public var isCommand: Bool
    /// Message control header bit 1: the last fragment of the message.
    public var isLast: Bool
    public var data: ByteBuffer

    public init(presentationContextID: UInt8, isCommand: Bool, isLast: Bool, data: ByteBuffer) {
        self.presentationContextID = presentationContextID
        self.isCommand = isCommand
        self.isLast = isLast
        self.data = data
    }

    var controlHeader: UInt8 { (isCommand ? 0x01 : 0) | (isLast ? 0x02 : 0) }
}

/// A presentation context as the requestor proposes it: one abstract
/// syntax, one or more transfer syntaxes in order of preference.
public struct PresentationContextProposal: Sendable, Equatable {
    /// Odd, 1–255.
    public var id: UInt8
    public var abstractSyntax: String
    public var transferSyntaxes: [String]

    public init(id: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntaxes = transferSyntaxes
    }
}

/// The acceptor's answer for one proposed presentation context.
public struct PresentationContextResult: Sendable, Equatable {
    public enum Result: UInt8, Sendable {
        case acceptance = 0
        case userRejection = 1
        case noReason = 2
        case abstractSyntaxNotSupported = 3
        case transferSyntaxesNotSupported = 4

        public var text: String {
            switch self {
            case .acceptance: return "accepted"
            case .userRejection: return "user rejection"
            case .noReason: return "rejected (no reason)"
            case .abstractSyntaxNotSupported: return "abstract syntax not supported"
            case .transferSyntaxesNotSupported: return "transfer syntaxes not supported"
            }
        }
    }

    public var id: UInt8
    public var result: Result
    /// The accepted transfer syntax (meaningful only when accepted).
    public var transferSyntax: String

    public init(id: UInt8, result: Result, transferSyntax: String) {
        self.id = id
        self.result = result
        self.transferSyntax = transferSyntax
    }
}

/// SCP/SCU role selection sub-item (PS3.7 §D.3.3.4): a C-GET requestor
/// proposes the SCP role for the storage classes it wants back.
public struct RoleSelection: Sendable, Equatable {
    public var sopClassUID: String
    public var scuRole: Bool
    public var scpRole: Bool

    public init(sopClassUID: String, scuRole: Bool, scpRole: Bool) {
        self.sopClassUID = sopClassUID
        self.scuRole = scuRole
        self.scpRole = scpRole
    }
}

/// The user information item (PS3.7 Annex D.3.3): maximum PDU length,
/// implementation identification, role selections; other sub-items are
/// kept as they came.
public struct UserInformation: Sendable, Equatable {
    /// Longest P-DATA-TF PDU (its variable field) the sender accepts; 0 = no limit.
    public var maxPDULength: UInt32
    public var implementationClassUID: String
    public var implementationVersionName: String?
    public var roleSelections: [RoleSelection]
    /// Sub-items discport does not interpret (type, value).
    public var otherItems: [UnknownItem]

    public struct UnknownItem: Sendable, Equatable {
        public var type: UInt8
        public var value: [UInt8]
    }

    public init(maxPDULength: UInt32, implementationClassUID: String, implementationVersionName: String? = nil,
                roleSelections: [RoleSelection] = [], otherItems: [UnknownItem] = []) {
        self.maxPDULength = maxPDULength
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
        self.roleSelections = roleSelections
        self.otherItems = otherItems
    }
}

public struct AssociateRequest: Sendable, Equatable {
    public var protocolVersion: UInt16 = 1
    public var calledAE: String
    public var callingAE: String
    public var applicationContext: String = dicomApplicationContext
    public var presentationContexts: [PresentationContextProposal]
    public var userInformation: UserInformation

    public init(calledAE: String, callingAE: String, presentationContexts: [PresentationContextProposal],
                userInformation: UserInformation) {
        self.calledAE = calledAE
        self.callingAE = callingAE
        self.presentationContexts = presentationContexts
        self.userInformation = userInformation
    }
}

public struct AssociateAccept: Sendable, Equatable {
    public var protocolVersion: UInt16 = 1
    public var calledAE: String
    public var callingAE: String
    public var applicationContext: String = dicomApplicationContext
    public var presentationContexts: [PresentationContextResult]
    public var userInformation: UserInformation

    public init(calledAE: String, callingAE: String, presentationContexts: [PresentationContextResult],
                userInformation: UserInformation) {
        self.calledAE = calledAE
        self.callingAE = callingAE
        self.presentationContexts = presentationContexts
        self.userInformation = userInformation
    }
}

/// A-ASSOCIATE-RJ (PS3.8 §9.3.4): result 1 permanent, 2 transient; source
/// 1 service user, 2 service provider (ACSE), 3 service provider (presentation).
public struct AssociateReject: Sendable, Equatable, Error, CustomStringConvertible {
    public var result: UInt8
    public var source: UInt8
    public var reason: UInt8

    public init(result: UInt8, source: UInt8, reason: UInt8) {
        self.result = result
        self.source = source
        self.reason = reason
    }

    public static func calledAENotRecognized() -> AssociateReject { AssociateReject(result: 1, source: 1, reason: 7) }
    public static func callingAENotRecognized() -> AssociateReject { AssociateReject(result: 1, source: 1, reason: 3) }
    public static func applicationContextNotSupported() -> AssociateReject { AssociateReject(result: 1, source: 1, reason: 2) }
    public static func noReason() -> AssociateReject { AssociateReject(result: 1, source: 1, reason: 1) }
    public static func protocolVersionNotSupported() -> AssociateReject { AssociateReject(result: 1, source: 2, reason: 2) }

    public var description: String {
        let kind = result == 2 ? "transient" : "permanent"
        let why: String
        switch (source, reason) {
        case (1, 1): why = "no reason given"
        case (1, 2): why = "application context name not supported"
        case (1, 3): why = "calling AE title not recognized"
        case (1, 7): why = "called AE title not recognized"
        case (2, 1): why = "no reason given (ACSE)"
        case (2, 2): why = "protocol version not supported"
        case (3, 1): why = "temporary congestion"
        case (3, 2): why = "local limit exceeded"
        default: why = "source \(source) reason \(reason)"
        }
        return "association rejected (\(kind)): \(why)"
    }
}

/// A-ABORT (PS3.8 §9.3.8): source 0 service user, 2 service provider.
public struct Abort: Sendable, Equatable {
    public var source: UInt8
    public var reason: UInt8

    public init(source: UInt8, reason: UInt8) {
        self.source = source
        self.reason = reason
    }

    public static let user = Abort(source: 0, reason: 0)
    /// Service provider: unexpected PDU.
    public static let unexpectedPDU = Abort(source: 2, reason: 2)
    /// Service provider: unrecognized PDU.
    public static let unrecognizedPDU = Abort(source: 2, reason: 1)
    /// Service provider: invalid PDU parameter value.
    public static let invalidParameter = Abort(source: 2, reason: 6)

    public var description: String {
        let who = source == 0 ? "service user" : (source == 2 ? "service provider" : "source \(source)")
        let why: String
        switch reason {
        case 0: why = "reason not specified"
        case 1: why = "unrecognized PDU"
        case 2: why = "unexpected PDU"
        case 4: why = "unrecognized PDU parameter"
        case 5: why = "unexpected PDU parameter"
        case 6: why = "invalid PDU parameter value"
        default: why = "reason \(reason)"
        }
        return "aborted by the \(who)" + (source == 2 ? " (\(why))" : "")
    }
}

/// Application Entity titles (PS3.5 §6.2, VR AE; PS3.8 §9.3.2: 16 bytes in
/// the association PDUs).
public enum AETitle {
    /// Why `title` cannot be an AE title (empty or only spaces, over 16
    /// characters, not ASCII, a backslash or control character); nil when
    /// it can. A longer title could never match the 16 bytes a peer sends.
    public static func problem(_ title: String) -> String? {
        if title.allSatisfy({ $0 == " " }) { return "an AE title cannot be empty" }
        if title.utf8.count > 16 { return "\(title) is \(title.utf8.count) characters; an AE title has at most 16" }
        if let bad = title.unicodeScalars.first(where: { !$0.isASCII || $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) {
            return "\(title) holds \(bad.isASCII ? String(format: "the character 0x%02X", bad.value) : "'\(bad)'"); an AE title is ASCII without backslash or control characters"
        }
        return nil
    }
}

/// A malformed or unacceptable PDU.
public struct PDUError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The A-ABORT the peer is sent for it (PS3.8 §9.3.8: service provider,
    /// invalid PDU parameter value unless said otherwise).
    public var abort: Abort
    public init(_ message: String, abort: Abort = .invalidParameter) {
        self.message = message
        self.abort = abort
    }
    public var description: String { message }
}

// MARK: - Encoding

extension PDU {
    /// The PDU with its 6-byte header.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(typeCode)
        buffer.writeInteger(UInt8(0))
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        let start = buffer.writerIndex
        switch self {
        case .associateRQ(let rq):
            PDU.writeAssociateHeader(&buffer, version: rq.protocolVersion, called: rq.calledAE, calling: rq.callingAE)
            PDU.writeItem(&buffer, 0x10) { $0.writeString(rq.applicationContext) }
            for pc in rq.presentationContexts {
                PDU.writeItem(&buffer, 0x20) { b in
                    b.writeInteger(pc.id)
                    b.writeBytes([0, 0, 0])
                    PDU.writeItem(&b, 0x30) { $0.writeString(pc.abstractSyntax) }
                    for ts in pc.transferSyntaxes {
                        PDU.writeItem(&b, 0x40) { $0.writeString(ts) }
                    }
                }
            }
            PDU.writeUserInformation(&buffer, rq.userInformation)
        case .associateAC(let ac):
            PDU.writeAssociateHeader(&buffer, version: ac.protocolVersion, called: ac.calledAE, calling: ac.callingAE)
            PDU.writeItem(&buffer, 0x10) { $0.writeString(ac.applicationContext) }
            for pc in ac.presentationContexts {
                PDU.writeItem(&buffer, 0x21) { b in
                    b.writeInteger(pc.id)
                    b.writeInteger(UInt8(0))
                    b.writeInteger(pc.result.rawValue)
                    b.writeInteger(UInt8(0))
                    PDU.writeItem(&b, 0x40) { $0.writeString(pc.transferSyntax) }
                }
            }
            PDU.writeUserInformation(&buffer, ac.userInformation)
        case .associateRJ(let rj):
            buffer.writeBytes([0, rj.result, rj.source, rj.reason])
        case .data(let pdvs):
            for pdv in pdvs {
                buffer.writeInteger(UInt32(pdv.data.readableBytes + 2))
                buffer.writeInteger(pdv.presentationContextID)
                buffer.writeInteger(pdv.controlHeader)
                var data = pdv.data
                buffer.writeBuffer(&data)
            }
        case .releaseRQ, .releaseRP:
            buffer.writeInteger(UInt32(0))
        case .abort(let abort):
            buffer.writeBytes([0, 0, abort.source, abort.reason])
        }
        buffer.setInteger(UInt32(buffer.writerIndex - start), at: lengthIndex)
    }

    /// A standalone encoding (tests, small PDUs).
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        encode(into: &buffer)
        return buffer
    }

    static func paddedAE(_ title: String) -> [UInt8] {
        var bytes = Array(title.utf8.prefix(16))
        bytes += [UInt8](repeating: 0x20, count: 16 - bytes.count)
        return bytes
    }

    private static func writeAssociateHeader(_ b: inout ByteBuffer, version: UInt16, called: String, calling: String) {
        b.writeInteger(version)
        b.writeInteger(UInt16(0))
        b.writeBytes(paddedAE(called))
        b.writeBytes(paddedAE(calling))
        b.writeBytes([UInt8](repeating: 0, count: 32))
    }

    /// An item: type, reserved byte, 2-byte length, value written by `body`.
    private static func writeItem(_ b: inout ByteBuffer, _ type: UInt8, _ body: (inout ByteBuffer) -> Void) {
        b.writeInteger(type)
        b.writeInteger(UInt8(0))
        let lengthIndex = b.writerIndex
        b.writeInteger(UInt16(0))
        let start = b.writerIndex
        body(&b)
        b.setInteger(UInt16(b.writerIndex - start), at: lengthIndex)
    }

    private static func writeUserInformation(_ b: inout ByteBuffer, _ info: UserInformation) {
        writeItem(&b, 0x50) { b in
            writeItem(&b, 0x51) { $0.writeInteger(info.maxPDULength) }
            writeItem(&b, 0x52) { $0.writeString(info.implementationClassUID) }
            for role in info.roleSelections {
                writeItem(&b, 0x54) { b in
                    b.writeInteger(UInt16(role.sopClassUID.utf8.count))
                    b.writeString(role.sopClassUID)
                    b.writeInteger(UInt8(role.scuRole ? 1 : 0))
                    b.writeInteger(UInt8(role.scpRole ? 1 : 0))
                }
            }
            if let name = info.implementationVersionName {
                writeItem(&b, 0x55) { $0.writeString(String(name.prefix(16))) }
            }
            for item in info.otherItems {
                writeItem(&b, item.type) { $0.writeBytes(item.value) }
            }
        }
    }
}

// MARK: - Decoding

extension PDU {
    /// Decodes one PDU whose 6-byte header has been read: `type` and its
    /// variable field `body` (exactly the announced length).
    public static func decode(type: UInt8, body: inout ByteBuffer) throws(PDUError) -> PDU {
        switch type {
        case 0x01:
            let h = try readAssociateHeader(&body)
            var rq = AssociateRequest(calledAE: h.called, callingAE: h.calling, presentationContexts: [],
                                      userInformation: UserInformation(maxPDULength: 0, implementationClassUID: ""))
            rq.protocolVersion = h.version
            var sawUserInfo = false
            var sawContext = false
            try forEachItem(&body) { (itemType, value) throws(PDUError) in
                var value = value
                switch itemType {
                case 0x10:
                    rq.applicationContext = trimmedString(value)
                    sawContext = true
                case 0x20:
                    guard value.readableBytes >= 4, let id = value.readInteger(as: UInt8.self) else {
                        throw PDUError("presentation context item too short")
                    }
                    value.moveReaderIndex(forwardBy: 3)
                    var proposal = PresentationContextProposal(id: id, abstractSyntax: "", transferSyntaxes: [])
                    try forEachItem(&value) { (subType, sub) throws(PDUError) in
                        switch subType {
                        case 0x30: proposal.abstractSyntax = trimmedString(sub)
                        case 0x40: proposal.transferSyntaxes.append(trimmedString(sub))
                        default: break
                        }
                    }
                    rq.presentationContexts.append(proposal)
                case 0x50:
                    rq.userInformation = try readUserInformation(&value)
                    sawUserInfo = true
                default:
                    break
                }
            }
            guard sawContext else { throw PDUError("A-ASSOCIATE-RQ without application context item") }
            guard sawUserInfo else { throw PDUError("A-ASSOCIATE-RQ without user information item") }
            return .associateRQ(rq)
        case 0x02:
            let h = try readAssociateHeader(&body)
            var ac = AssociateAccept(calledAE: h.called, callingAE: h.calling, presentationContexts: [],
                                     userInformation: UserInformation(maxPDULength: 0, implementationClassUID: ""))
            ac.protocolVersion = h.version
            try forEachItem(&body) { (itemType, value) throws(PDUError) in
                var value = value
                switch itemType {
                case 0x10:
                    ac.applicationContext = trimmedString(value)
                case 0x21:
                    guard value.readableBytes >= 4, let bytes = value.readBytes(length: 4) else {
                        throw PDUError("presentation context result item too short")
                    }
                    var result = PresentationContextResult(id: bytes[0], result: .init(rawValue: bytes[2]) ?? .noReason,
                                                           transferSyntax: "")
                    try forEachItem(&value) { (subType, sub) throws(PDUError) in
                        if subType == 0x40 { result.transferSyntax = trimmedString(sub) }
                    }
                    ac.presentationContexts.append(result)
                case 0x50:
                    ac.userInformation = try readUserInformation(&value)
                default:
                    break
                }
            }
            return .associateAC(ac)
        case 0x03:
            guard let b = body.readBytes(length: 4) else { throw PDUError("A-ASSOCIATE-RJ too short") }
            return .associateRJ(AssociateReject(result: b[1], source: b[2], reason: b[3]))
        case 0x04:
            var pdvs: [PDV] = []
            while body.readableBytes > 0 {
                guard let length = body.readInteger(as: UInt32.self), length >= 2, Int(length) <= body.readableBytes,
                      let id = body.readInteger(as: UInt8.self), let control = body.readInteger(as: UInt8.self),
                      let data = body.readSlice(length: Int(length) - 2) else {
                    throw PDUError("malformed presentation data value item")
                }
                pdvs.append(PDV(presentationContextID: id, isCommand: control & 0x01 != 0, isLast: control & 0x02 != 0, data: data))
            }
            guard !pdvs.isEmpty else { throw PDUError("P-DATA-TF without presentation data values") }
            return .data(pdvs)
        case 0x05:
            return .releaseRQ
        case 0x06:
            return .releaseRP
        case 0x07:
            guard let b = body.readBytes(length: 4) else { throw PDUError("A-ABORT too short") }
            return .abort(Abort(source: b[2], reason: b[3]))
        default:
            throw PDUError(String(format: "unrecognized PDU type 0x%02X", type), abort: .unrecognizedPDU)
        }
    }

    private static func readAssociateHeader(_ b: inout ByteBuffer) throws(PDUError) -> (version: UInt16, called: String, calling: String) {
        guard b.readableBytes >= 68, let version = b.readInteger(as: UInt16.self) else {
            throw PDUError("A-ASSOCIATE PDU too short")
        }
        b.moveReaderIndex(forwardBy: 2)
        let called = b.readBytes(length: 16)!
        let calling = b.readBytes(length: 16)!
        b.moveReaderIndex(forwardBy: 32)
        func ae(_ bytes: [UInt8]) -> String {
            String(decoding: bytes, as: UTF8.self).trimmingSpaces()
        }
        return (version, ae(called), ae(calling))
    }

    /// Calls `body` with each item (type, value) of a buffer of items with
    /// 2-byte lengths.
    private static func forEachItem(_ b: inout ByteBuffer, _ body: (UInt8, ByteBuffer) throws(PDUError) -> Void) throws(PDUError) {
        while b.readableBytes > 0 {
            guard b.readableBytes >= 4, let type = b.readInteger(as: UInt8.self) else {
                throw PDUError("truncated item header")
            }
            b.moveReaderIndex(forwardBy: 1)
            let length = Int(b.readInteger(as: UInt16.self)!)
            guard let value = b.readSlice(length: length) else {
                throw PDUError(String(format: "item 0x%02X longer (%d bytes) than what remains (%d)", type, length, b.readableBytes))
            }
            try body(type, value)
        }
    }

    private static func trimmedString(_ b: ByteBuffer) -> String {
        var s = Substring(String(decoding: b.readableBytesView, as: UTF8.self))
        while let last = s.last, last == "\0" || last == " " { s.removeLast() }
        while let first = s.first, first == " " { s.removeFirst() }
        return String(s)
    }

    private static func readUserInformation(_ b: inout ByteBuffer) throws(PDUError) -> UserInformation {
        var info = UserInformation(maxPDULength: 0, implementationClassUID: "")
        try forEachItem(&b) { (type, value) throws(PDUError) in
            var value = value
            switch type {
            case 0x51:
                guard let max = value.readInteger(as: UInt32.self) else { throw PDUError("maximum length item too short") }
                info.maxPDULength = max
            case 0x52:
                info.implementationClassUID = trimmedString(value)
            case 0x54:
                guard let length = value.readInteger(as: UInt16.self), let uid = value.readSlice(length: Int(length)),
                      let scu = value.readInteger(as: UInt8.self), let scp = value.readInteger(as: UInt8.self) else {
                    throw PDUError("role selection item malformed")
                }
                info.roleSelections.append(RoleSelection(sopClassUID: trimmedString(uid), scuRole: scu == 1, scpRole: scp == 1))
            case 0x55:
                info.implementationVersionName = trimmedString(value)
            default:
                info.otherItems.append(UserInformation.UnknownItem(type: type, value: Array(value.readableBytesView)))
            }
        }
        return info
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\0" { s.removeLast() }
        while let first = s.first, first == " " { s.removeFirst() }
        return String(s)
    }
}
