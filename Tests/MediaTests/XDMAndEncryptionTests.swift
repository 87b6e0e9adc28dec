import Crypto
import DICOM
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Media
import Testing

@Suite struct XDMAndEncryptionTests {
    /// A written file-set with README.TXT, from DiscBuilder's standard disc.
    func fileSet() throws -> (root: String, result: FileSetResult) {
        let root = NSTemporaryDirectory() + "xdm-" + UUID().uuidString
        let instances = DiscBuilder.standardDisc()
        try DiscBuilder.write(instances, to: root + "/src", dicomdir: nil)
        let result = try FileSetWriter(profile: .stdGenCD, fileSetID: "XDM_TEST")
            .write(instances.map { FileSetSource(path: root + "/src/" + $0.path) }, to: root + "/out")
        try Data("README\r\n".utf8).write(to: URL(fileURLWithPath: root + "/out/README.TXT"))
        return (root, result)
    }

    func submission(_ result: FileSetResult, authority: String?) -> XDMSubmission {
        XDMSubmission(
            patient: .init(id: "12345", assigningAuthority: authority, issuer: "CLINIC", name: "Yamada^Tarou=山田^太郎=やまだ^たろう",
                           birthDate: "19700101", sex: "M"),
            documents: result.entries.map {
                .init(path: $0.path, sopInstanceUID: $0.sopInstanceUID, sopClassUID: $0.sopClassUID, modality: "CT",
                      serviceDate: "20240102", title: "CT 胸部 & <test>")
            },
            institution: "テスト医院", languageCode: "ja-JP", title: "test")
    }

    func elements(_ node: XMLNode, named name: String) -> [XMLElement] {
        var found: [XMLElement] = []
        for child in node.children ?? [] {
            if let element = child as? XMLElement {
                if element.localName == name { found.append(element) }
                found += elements(element, named: name)
            }
        }
        return found
    }

    func slot(_ element: XMLElement, _ name: String) -> [String] {
        elements(element, named: "Slot").filter { $0.attribute(forName: "name")?.stringValue == name }
            .flatMap { elements($0, named: "Value").map { $0.stringValue ?? "" } }
    }

    @Test func metadataDescribesEveryInstanceWithItsSizeAndSHA1() throws {
        let (root, result) = try fileSet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let references = try XDMWriter.write(submission(result, authority: "1.2.392.200119.99"), root: root + "/out")
        #expect(references.count == result.entries.count)

        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/out/IHE_XDM/SUBSET01/METADATA.XML"))
        // What a capacity plan reserves for it is enough.
        #expect(Int64(data.count) <= VolumePlanner.Overhead.xdmPerPatient + Int64(references.count) * VolumePlanner.Overhead.xdmPerDocument,
                "\(data.count) bytes for \(references.count) documents")
        let document = try XMLDocument(data: data)
        let top = try #require(document.rootElement())
        #expect(top.localName == "SubmitObjectsRequest")
        #expect(top.uri == XDMWriter.lcmNamespace)
        let entries = elements(top, named: "ExtrinsicObject")
        #expect(entries.count == result.entries.count)
        #expect(entries.allSatisfy { $0.uri == XDMWriter.rimNamespace && $0.attribute(forName: "mimeType")?.stringValue == "application/dicom" })
        #expect(elements(top, named: "RegistryPackage").count == 1)
        #expect(elements(top, named: "Association").count == result.entries.count)

        var uniqueIDs: Set<String> = []
        for entry in entries {
            let uri = try #require(slot(entry, "URI").first)
            #expect(uri.hasPrefix("../../DICOM/"))
            let file = root + "/out/IHE_XDM/SUBSET01/" + uri
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(slot(entry, "size") == [String(bytes.count)])
            #expect(slot(entry, "hash") == [Insecure.SHA1.hash(data: bytes).map { String(format: "%02x", $0) }.joined()])
            #expect(slot(entry, "sourcePatientId") == ["12345^^^&1.2.392.200119.99&ISO"])
            #expect(slot(entry, "sourcePatientInfo").contains("PID-5|Yamada^Tarou"))
            #expect(elements(entry, named: "LocalizedString").contains { $0.attribute(forName: "value")?.stringValue == "CT 胸部 & <test>" })
            let identifiers = elements(entry, named: "ExternalIdentifier")
            #expect(identifiers.contains { $0.attribute(forName: "value")?.stringValue == "12345^^^&1.2.392.200119.99&ISO" })
            if let unique = identifiers.first(where: {
                $0.attribute(forName: "identificationScheme")?.stringValue == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
            }) {
                uniqueIDs.insert(unique.attribute(forName: "value")?.stringValue ?? "")
            }
        }
        #expect(uniqueIDs == Set(result.entries.map(\.sopInstanceUID)))
        // The medium with its XDM folder is still a conformant file-set.
        #expect(MediumVerifier(profile: .stdGenCD).verify(path: root + "/out").report.passed)
    }

    @Test func verifyChecksTheXDMMetadataAgainstTheMedium() throws {
        let (root, result) = try fileSet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let references = try XDMWriter.write(submission(result, authority: nil), root: root + "/out")
        #expect(MediumVerifier(profile: .stdGenCD).verify(path: root + "/out").report.problems.filter { $0.code == "xdm" }.isEmpty)
        let metadata = root + "/out/" + XDMWriter.metadataPath(subset: 1)
        let good = try String(contentsOfFile: metadata, encoding: .utf8)
        func verifyWith(_ text: String) throws -> [VerifyProblem] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: metadata))
            return MediumVerifier(profile: .stdGenCD).verify(path: root + "/out").report.problems.filter { $0.code == "xdm" && $0.severity == .error }
        }
        let wrongHash = try verifyWith(good.replacingOccurrences(of: references[0].sha1, with: String(repeating: "0", count: 40)))
        #expect(wrongHash.count == 1 && wrongHash[0].message.contains("SHA-1"))
        let wrongSize = try verifyWith(good.replacingOccurrences(of: "<rim:Value>\(references[1].size)</rim:Value>", with: "<rim:Value>7</rim:Value>"))
        #expect(wrongSize.contains { $0.message.contains("the metadata says 7") })
        let escaping = try verifyWith(good.replacingOccurrences(of: references[2].uri, with: "../../../../etc/passwd"))
        #expect(escaping.contains { $0.message.contains("does not name a file on the medium") })
        let broken = try verifyWith(String(good.dropLast(40)))
        #expect(broken.count == 1 && broken[0].message.contains("cannot be read"))
    }

    @Test func uriResolutionStaysOnTheMedium() {
        let meta = "IHE_XDM/SUBSET01/METADATA.XML"
        #expect(XDMMetadataReader.resolve("../../DICOM/A", metadataPath: meta) == "DICOM/A")
        #expect(XDMMetadataReader.resolve("DOC0001.XML", metadataPath: meta) == "IHE_XDM/SUBSET01/DOC0001.XML")
        #expect(XDMMetadataReader.resolve("../../../X", metadataPath: meta) == nil)
        #expect(XDMMetadataReader.resolve("/etc/passwd", metadataPath: meta) == nil)
        #expect(XDMMetadataReader.resolve("http://example.org/x", metadataPath: meta) == nil)
    }

    @Test func withoutAnAssigningAuthorityThereIsNoAffinityPatientID() throws {
        let (root, result) = try fileSet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try XDMWriter.write(submission(result, authority: nil), root: root + "/out")
        let document = try XMLDocument(data: Data(contentsOf: URL(fileURLWithPath: root + "/out/" + XDMWriter.metadataPath(subset: 1))))
        let top = try #require(document.rootElement())
        let patientSchemes = ["urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427", "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"]
        #expect(!elements(top, named: "ExternalIdentifier").contains {
            patientSchemes.contains($0.attribute(forName: "identificationScheme")?.stringValue ?? "")
        })
        #expect(elements(top, named: "ExtrinsicObject").allSatisfy { slot($0, "sourcePatientId") == ["12345^^^CLINIC"] })
    }

    @Test func aMissingDocumentFileIsAnErrorAndNothingIsWritten() throws {
        let (root, result) = try fileSet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.removeItem(atPath: root + "/out/" + result.entries[0].path)
        #expect(throws: MediaError.self) { try XDMWriter.write(submission(result, authority: nil), root: root + "/out") }
        #expect(!FileManager.default.fileExists(atPath: root + "/out/" + XDMWriter.metadataPath(subset: 1)))
    }

    @Test func encryptedZipNeedsItsPassphrase() throws {
        let (root, result) = try fileSet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let secret = try #require(Passphrase("correct horse 電池"))
        #expect("\(secret)" == "<passphrase>" && String(reflecting: secret) == "<passphrase>")
        let zip = root + "/out.zip"
        try MediumImageWriter.write(folder: root + "/out", to: zip, format: .zip, passphrase: secret)
        // The stored bytes are not the DICOM files in clear.
        let packed = try Data(contentsOf: URL(fileURLWithPath: zip))
        #expect(packed.range(of: Data("DICM".utf8)) == nil)

        let locked = MediumVerifier(profile: .stdGenCD).verify(path: zip).report
        #expect(!locked.passed)
        #expect(locked.problems.contains { $0.message.contains("without the passphrase") })
        let wrong = MediumVerifier(profile: .stdGenCD, passphrase: Passphrase("wrong")).verify(path: zip).report
        #expect(!wrong.passed)
        #expect(wrong.problems.contains { $0.message.contains("wrong passphrase") })
        let (report, _, hashes) = MediumVerifier(profile: .stdGenCD, passphrase: secret).verify(path: zip, hashing: true)
        #expect(report.passed, "\(report.problems)")
        #expect(report.instances == result.entries.count)
        for entry in result.entries { #expect(hashes[entry.path] == entry.sha256) }

        #expect(throws: MediaError.self) {
            try MediumImageWriter.write(folder: root + "/out", to: root + "/out.iso", format: .iso(volumeID: "X"), passphrase: secret)
        }
    }

    @Test func passphraseFileGivesItsFirstLine() throws {
        let path = NSTemporaryDirectory() + "pass-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("s3cret word\r\nsecond line\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try Passphrase.read(file: path) == Passphrase("s3cret word"))
        try Data("\nx\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: MediaError.self) { try Passphrase.read(file: path) }
        #expect(throws: MediaError.self) { try Passphrase.read(file: path + ".missing") }
    }
}
