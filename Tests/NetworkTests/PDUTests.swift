import DICOM
import Foundation
import NIOCore
import Testing
@testable import Network

private func roundTrip(_ pdu: PDU) throws -> PDU {
    var buffer = pdu.encoded()
    let type = buffer.readInteger(as: UInt8.self)!
    buffer.moveReaderIndex(forwardBy: 1)
    let length = buffer.readInteger(as: UInt32.self)!
    #expect(Int(length) == buffer.readableBytes)
    return try PDU.decode(type: type, body: &buffer)
}

private func sampleRequest() -> AssociateRequest {
    AssociateRequest(
        calledAE: "ORTHANC", callingAE: "DISCPORT",
        presentationContexts: [
            PresentationContextProposal(id: 1, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
                                        transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]),
            PresentationContextProposal(id: 3, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
                                        transferSyntaxes: ["1.2.840.10008.1.2.4.50"]),
            PresentationContextProposal(id: 5, abstractSyntax: UIDs.verification, transferSyntaxes: ["1.2.840.10008.1.2"]),
        ],
        userInformation: UserInformation(maxPDULength: 16384, implementationClassUID: UID.implementationClassUID,
                                         implementationVersionName: UID.implementationVersionName,
                                         roleSelections: [RoleSelection(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: false, scpRole: true)]))
}

@Suite struct PDUTests {
    @Test func associateRequestRoundTrips() throws {
        let rq = sampleRequest()
        #expect(try roundTrip(.associateRQ(rq)) == .associateRQ(rq))
    }

    @Test func associateRequestLayout() throws {
        let bytes = Array(PDU.associateRQ(sampleRequest()).encoded().readableBytesView)
        #expect(bytes[0] == 0x01)
        #expect(bytes[6] == 0x00 && bytes[7] == 0x01)   // protocol version 1
        // Called AE at 10..<26, space padded; calling AE at 26..<42.
        #expect(String(decoding: bytes[10..<26], as: UTF8.self) == "ORTHANC         ")
        #expect(String(decoding: bytes[26..<42], as: UTF8.self) == "DISCPORT        ")
        // The application context item follows the 32 reserved bytes.
        #expect(bytes[74] == 0x10)
        let length = Int(bytes[76]) << 8 | Int(bytes[77])
        #expect(String(decoding: bytes[78..<(78 + length)], as: UTF8.self) == dicomApplicationContext)
    }

    @Test func associateAcceptRoundTrips() throws {
        let ac = AssociateAccept(
            calledAE: "ORTHANC", callingAE: "DISCPORT",
            presentationContexts: [
                PresentationContextResult(id: 1, result: .acceptance, transferSyntax: "1.2.840.10008.1.2.1"),
                PresentationContextResult(id: 3, result: .transferSyntaxesNotSupported, transferSyntax: "1.2.840.10008.1.2"),
            ],
            userInformation: UserInformation(maxPDULength: 0, implementationClassUID: "1.2.3", implementationVersionName: "X"))
        #expect(try roundTrip(.associateAC(ac)) == .associateAC(ac))
    }

    @Test func shortPDUsRoundTrip() throws {
        for pdu: PDU in [.associateRJ(.calledAENotRecognized()), .releaseRQ, .releaseRP, .abort(.unexpectedPDU)] {
            #expect(try roundTrip(pdu) == pdu)
        }
        #expect(Array(PDU.releaseRQ.encoded().readableBytesView) == [0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0])
        #expect(Array(PDU.associateRJ(.calledAENotRecognized()).encoded().readableBytesView) == [0x03, 0, 0, 0, 0, 4, 0, 1, 1, 7])
        #expect(Array(PDU.abort(.user).encoded().readableBytesView) == [0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0])
    }

    @Test func dataPDUWithSeveralPDVs() throws {
        let pdvs = [
            PDV(presentationContextID: 1, isCommand: true, isLast: true, data: ByteBuffer(bytes: [1, 2, 3, 4])),
            PDV(presentationContextID: 1, isCommand: false, isLast: false, data: ByteBuffer(bytes: [5, 6])),
        ]
        let encoded = Array(PDU.data(pdvs).encoded().readableBytesView)
        #expect(encoded == [0x04, 0, 0, 0, 0, 18, 0, 0, 0, 6, 1, 0x03, 1, 2, 3, 4, 0, 0, 0, 4, 1, 0x00, 5, 6])
        #expect(try roundTrip(.data(pdvs)) == .data(pdvs))
    }

    @Test func malformedPDUsAreRejected() {
        var truncatedItem = ByteBuffer(bytes: [0, 0, 0, 10, 1])   // PDV length beyond the PDU
        #expect(throws: PDUError.self) { try PDU.decode(type: 0x04, body: &truncatedItem) }
        var unknown = ByteBuffer(bytes: [0, 0, 0, 0])
        #expect(throws: PDUError.self) { try PDU.decode(type: 0x09, body: &unknown) }
        var short = ByteBuffer(bytes: [0, 1])
        #expect(throws: PDUError.self) { try PDU.decode(type: 0x01, body: &short) }
    }

    @Test func rejectReasonsAreExplained() {
        #expect(AssociateReject.calledAENotRecognized().description.contains("called AE title not recognized"))
        #expect(AssociateReject(result: 2, source: 3, reason: 1).description.contains("transient"))
    }
}

@Suite struct DIMSETests {
    @Test func echoRequestEncoding() throws {
        let bytes = try DIMSECommand.echoRQ(messageID: 7).encoded()
        // (0000,0000) UL, implicit VR: tag, length 4, value = the rest.
        #expect(Array(bytes.prefix(8)) == [0, 0, 0, 0, 4, 0, 0, 0])
        let groupLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        #expect(groupLength == bytes.count - 12)
        let decoded = try DIMSECommand(decoding: bytes)
        #expect(decoded.field == .cEchoRQ)
        #expect(decoded.messageID == 7)
        #expect(decoded.affectedSOPClassUID == UIDs.verification)
        #expect(!decoded.hasDataset)
    }

    @Test func storeRequestAndResponse() throws {
        let rq = DIMSECommand.storeRQ(messageID: 3, sopClassUID: "1.2.840.10008.5.1.4.1.1.7", sopInstanceUID: "1.2.3.4.5")
        let decoded = try DIMSECommand(decoding: try rq.encoded())
        #expect(decoded.field == .cStoreRQ)
        #expect(decoded.hasDataset)
        #expect(decoded.affectedSOPInstanceUID == "1.2.3.4.5")
        // UIDs are NUL padded to even length.
        #expect(decoded.dataset[.affectedSOPInstanceUID]?.bytes?.count == 10)
        let rsp = DIMSECommand.response(to: decoded, field: .cStoreRSP, status: DIMSEStatus(0xA700), errorComment: "disk full")
        let back = try DIMSECommand(decoding: try rsp.encoded())
        #expect(back.messageIDBeingRespondedTo == 3)
        #expect(back.status == DIMSEStatus(0xA700))
        #expect(back.status?.kind == .failure)
        #expect(back.errorComment == "disk full")
        #expect(back.affectedSOPInstanceUID == "1.2.3.4.5")
    }

    @Test func statusKinds() {
        #expect(DIMSEStatus(0x0000).kind == .success)
        #expect(DIMSEStatus(0xB000).kind == .warning)
        #expect(DIMSEStatus(0xB000).isDone)
        #expect(DIMSEStatus(0xFF00).kind == .pending)
        #expect(DIMSEStatus(0xFE00).kind == .cancel)
        #expect(DIMSEStatus(0xC123).kind == .failure)
        #expect(!DIMSEStatus(0xA900).isDone)
    }

    @Test func storageClassesComeFromTheRegistry() {
        #expect(UIDs.isStorageClass("1.2.840.10008.5.1.4.1.1.2"))     // CT Image Storage
        #expect(UIDs.isStorageClass("1.2.840.10008.5.1.4.1.1.7"))     // Secondary Capture
        #expect(!UIDs.isStorageClass(UIDs.verification))
        #expect(!UIDs.isStorageClass("1.2.840.10008.1.20.1"))          // storage commitment
        #expect(!UIDs.isStorageClass("1.2.840.10008.1.3.10"))          // DICOMDIR
        #expect(!UIDs.isStorageClass(UIDs.patientRootFind))
    }

    @Test func findIdentifierInJapanese() throws {
        let query = FindQuery(model: .patientRoot, level: .patient, keys: [(.patientName, "ヤマダ^タロウ=山田^太郎")],
                              characterSet: ["", "ISO 2022 IR 87"])
        let ds = try query.identifier()
        #expect(ds.string(Tag(0x0008, 0x0052)) == "PATIENT")
        let raw = ds[.patientName]!.bytes!
        #expect(raw.contains(0x1B))   // escape sequences, not UTF-8
        #expect(!raw.contains(0xE5))
        let encoded = try DICOMWriter.encode(ds, transferSyntax: .explicitVRLittleEndian)
        let back = try DICOMFile(datasetData: encoded, transferSyntax: .explicitVRLittleEndian).dataset
        #expect(back.string(.patientName) == "ヤマダ^タロウ=山田^太郎")
        #expect(back.contains(.patientBirthDate))   // return keys are present, empty
    }
}

@Suite struct WorklistTests {
    @Test func scheduledStepKeysGoIntoTheSequenceItem() throws {
        let query = FindQuery(model: .modalityWorklist, level: nil,
                              keys: [(.patientName, "*山田*"), (.scheduledProcedureStepStartDate, "20261201"), (.modality, "OT")],
                              characterSet: ["ISO_IR 192"])
        let ds = try query.identifier()
        #expect(!ds.contains(Tag(0x0008, 0x0052)))   // no Query/Retrieve Level in a worklist query
        #expect(ds.string(.patientName) == "*山田*")
        #expect(!ds.contains(.modality))
        let step = try #require(ds.items(.scheduledProcedureStepSequence).first)
        #expect(step.string(.scheduledProcedureStepStartDate) == "20261201")
        #expect(step.string(.modality) == "OT")
        #expect(step.contains(.scheduledStationAETitle))
        // The identifier encodes and parses back (defined-length item).
        let encoded = try DICOMWriter.encode(ds, transferSyntax: .implicitVRLittleEndian)
        let back = try DICOMFile(datasetData: encoded, transferSyntax: .implicitVRLittleEndian).dataset
        #expect(back.items(.scheduledProcedureStepSequence).first?.string(.modality) == "OT")
    }

    @Test func retrieveIdentifiersCarryOnlyUniqueKeys() throws {
        var query = FindQuery(model: .studyRoot, level: .study, keys: [(.studyInstanceUID, "1.2.3")])
        query.returnKeys = false
        let ds = try query.identifier()
        #expect(ds.tags == [Tag(0x0008, 0x0052), .studyInstanceUID])
    }
}

@Suite struct NegotiationTests {
    let server = DICOMServer(configuration: .init(aeTitle: "DISCPORT", port: 0, allowedCallingAEs: ["GOOD"])) { _ in (.success, nil) }

    private func request(called: String = "DISCPORT", calling: String = "GOOD", _ contexts: [PresentationContextProposal]) -> AssociateRequest {
        AssociateRequest(calledAE: called, callingAE: calling, presentationContexts: contexts,
                         userInformation: UserInformation(maxPDULength: 0, implementationClassUID: "1.2"))
    }

    @Test func rejectsUnknownAETitles() {
        #expect(server.negotiate(request(called: "OTHER", [])) == .failure(.calledAENotRecognized()))
        #expect(server.negotiate(request(calling: "STRANGER", [])) == .failure(.callingAENotRecognized()))
        var wrongContext = request([])
        wrongContext.applicationContext = "1.2.3"
        #expect(server.negotiate(wrongContext) == .failure(.applicationContextNotSupported()))
    }

    @Test func acceptsStorageAndVerificationOnly() throws {
        let result = try server.negotiate(request([
            PresentationContextProposal(id: 1, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
                                        transferSyntaxes: ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.1"]),
            PresentationContextProposal(id: 3, abstractSyntax: UIDs.patientRootFind, transferSyntaxes: ["1.2.840.10008.1.2"]),
            PresentationContextProposal(id: 5, abstractSyntax: UIDs.verification, transferSyntaxes: ["9.9.9", "1.2.840.10008.1.2"]),
            PresentationContextProposal(id: 7, abstractSyntax: "1.2.840.10008.5.1.4.1.1.7", transferSyntaxes: ["9.9.9"]),
        ])).get()
        #expect(result.map(\.result) == [.acceptance, .abstractSyntaxNotSupported, .acceptance, .transferSyntaxesNotSupported])
        #expect(result[0].transferSyntax == "1.2.840.10008.1.2.4.50")   // the sender's first choice, kept as sent
        #expect(result[2].transferSyntax == "1.2.840.10008.1.2")
    }

    /// Classes first met in one syntax and later in others must not push
    /// an association past 128 contexts: ids would wrap past 255 (two
    /// contexts with id 1) and the peer would refuse or mix them up.
    /// `listen --ae` over 16 characters bound and then rejected every
    /// association (the called AE in a PDU has 16 bytes): refused up front.
    @Test func aeTitlesAreChecked() {
        #expect(AETitle.problem("DISCPORT") == nil)
        #expect(AETitle.problem("SIXTEEN_CHARS_AE") == nil)
        #expect(AETitle.problem("SEVENTEEN_CHARS_A")?.contains("at most 16") == true)
        #expect(AETitle.problem("") != nil && AETitle.problem("  ") != nil)
        #expect(AETitle.problem("A\\B") != nil && AETitle.problem("AÉ") != nil && AETitle.problem("A\nB") != nil)
    }

    @Test func abortReasonsAreNamed() {
        #expect(Abort(source: 2, reason: 0).description == "aborted by the service provider (reason not specified)")
        #expect(Abort(source: 2, reason: 6).description == "aborted by the service provider (invalid PDU parameter value)")
        #expect(Abort.user.description == "aborted by the service user")
    }

    @Test func bundlesNeverExceed128Contexts() {
        let syntaxes: [TransferSyntax] = [.explicitVRLittleEndian, .jpegBaseline, .rleLossless, .jpeg2000Lossless]
        var items: [StoreItem] = []
        for round in 0..<syntaxes.count {
            for cls in 0..<60 {
                items.append(StoreItem(path: "/f\(round)-\(cls)", sopClassUID: "1.2.3.\(cls)", sopInstanceUID: "9.\(round).\(cls)",
                                       transferSyntax: syntaxes[round], datasetOffset: 0, fileSize: 0))
            }
        }
        let bundles = StoreSCU.bundles(items)
        #expect(bundles.flatMap { $0 }.count == items.count)
        #expect(Set(bundles.flatMap { $0 }.map(\.sopInstanceUID)).count == items.count)
        for bundle in bundles {
            let proposals = StoreSCU.proposals(for: bundle)
            #expect(proposals.count <= 128)
            #expect(Set(proposals.map(\.id)).count == proposals.count)
        }
        // Every item of a class travels on the one association that negotiates it.
        let classBundles = Dictionary(grouping: bundles.indices.flatMap { b in bundles[b].map { ($0.sopClassUID, b) } }, by: \.0)
        #expect(classBundles.values.allSatisfy { Set($0.map(\.1)).count == 1 })
    }

    @Test func proposalsOfferEachSyntaxAndTheNativeFallback() {
        func item(_ cls: String, _ ts: TransferSyntax, _ n: Int) -> StoreItem {
            StoreItem(path: "/x\(n)", sopClassUID: cls, sopInstanceUID: "1.\(n)", transferSyntax: ts, datasetOffset: 0, fileSize: 0)
        }
        let ct = "1.2.840.10008.5.1.4.1.1.2"
        let sc = "1.2.840.10008.5.1.4.1.1.7"
        let proposals = StoreSCU.proposals(for: [item(ct, .explicitVRLittleEndian, 1), item(ct, .implicitVRLittleEndian, 2),
                                                 item(ct, .jpegBaseline, 3), item(sc, .jpegBaseline, 4)])
        let explicit = TransferSyntax.explicitVRLittleEndian.uid, implicit = TransferSyntax.implicitVRLittleEndian.uid
        let jpeg = TransferSyntax.jpegBaseline.uid
        #expect(proposals.map(\.id) == [1, 3, 5, 7, 9])
        #expect(proposals.map(\.abstractSyntax) == [ct, ct, ct, sc, sc])
        #expect(proposals.map(\.transferSyntaxes) == [[explicit], [implicit], [jpeg], [jpeg], [explicit, implicit]])
    }
}


@Suite struct DICOMwebTests {
    @Test func multipartPartsAreSplitAtTheBoundary() {
        let body = Data("preamble\r\n--XYZ\r\nContent-Type: application/dicom\r\n\r\nAB\r\n--XYZ\r\nContent-Type: application/dicom\r\n\r\n\r\n--X\r\n\r\n--XYZ--\r\n".utf8)
        let parts = DICOMweb.multipartParts(body, boundary: "XYZ")
        #expect(parts.map { String(decoding: $0, as: UTF8.self) } == ["AB", "\r\n--X\r\n"])
        #expect(DICOMweb.multipartBoundary("multipart/related; type=\"application/dicom\"; boundary=\"abc-1\"") == "abc-1")
        #expect(DICOMweb.multipartBoundary("application/dicom") == nil)
    }

    @Test func authenticationComesFromTheEnvironment() throws {
        #expect(try DICOMwebEndpoint.authorization("basic:PACS_AUTH", environment: ["PACS_AUTH": "user:pw"]) == "Basic dXNlcjpwdw==")
        #expect(try DICOMwebEndpoint.authorization("bearer:TOKEN", environment: ["TOKEN": "abc"]) == "Bearer abc")
        #expect(throws: DICOMwebError.self) { try DICOMwebEndpoint.authorization("basic:MISSING", environment: [:]) }
        #expect(try DICOMwebEndpoint.authorization(nil) == nil)
    }
}
