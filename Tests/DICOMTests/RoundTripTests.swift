// Round trips over pydicom's bundled test data, judged byte for byte and by
// the independent tools: DCMTK's dcmdump and dicom3tools' dciodvfy.
//
// Missing pydicom or tools fail the suite when CI=true and are recorded as
// skips elsewhere (TestEnvironment.missing).
import Foundation
import Testing
@testable import DICOM
import struct DICOM.Tag

@Suite("Round trips over pydicom's test data")
struct RoundTripTests {
    /// Files that discport refuses in strict mode, and why. Each is broken on
    /// purpose (pydicom keeps them to test its own error handling); DCMTK
    /// refuses them too. Lenient mode must still return what precedes the fault.
    static let knownUnreadable: [String: DICOMError.Kind] = [
        // Pixel data value length 8192 runs 62 bytes past the end of the file.
        "test_files/MR_truncated.dcm": .lengthOutOfBounds,
        // Cut inside a sequence.
        "test_files/rtplan_truncated.dcm": .lengthOutOfBounds,
        // One stray byte (0x20) before a raw data set: nothing parses from offset 0.
        "test_files/no_meta.dcm": .notDICOM,
        // The last directory record's item length (248) runs past the end of
        // its sequence and of the file: records were shortened without
        // fixing the lengths.
        "test_files/dicomdirtests/DICOMDIR-nooffset": .lengthOutOfBounds,
    ]

    /// Part 10 explicit VR little endian files whose re-encoding is not byte
    /// identical, with the difference the test demands instead.
    enum ExpectedDifference {
        /// The input holds the same element twice in a row; the data set
        /// keeps one, so the output is the input minus one copy.
        case duplicateElementDropped(Tag)
    }

    static let knownDifferences: [String: ExpectedDifference] = [
        // (0008,0018) SOP Instance UID appears twice (DCMTK: "found twice in
        // one data set or item, ignoring second entry").
        "palettes/winter.dcm": .duplicateElementDropped(Tag(0x0008, 0x0018)),
    ]

    struct Input {
        let name: String
        let path: String
        let data: Data
    }

    static func inputs() throws -> [Input] {
        let files = try TestEnvironment.pydicomFiles()
        let root = TestEnvironment.pydicomData ?? ""
        return try files.map { path in
            Input(name: String(path.dropFirst(root.count + 1)), path: path, data: try Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    /// The transfer syntax the meta declares, if any.
    static func declaredSyntax(_ file: DICOMFile) -> TransferSyntax? {
        file.meta.rawText(Tag(0x0002, 0x0010)).map(TransferSyntax.init(uid:))
    }

    /// Compares and explains: nil when equal, else the first differing offset.
    static func firstDifference(_ a: Data, _ b: Data) -> Int? {
        let x = [UInt8](a), y = [UInt8](b)
        var i = 0
        while i < min(x.count, y.count) && x[i] == y[i] { i += 1 }
        return i == x.count && i == y.count ? nil : i
    }

    // MARK: Byte-identical round trips

    @Test("Part 10 explicit VR little endian files (and encapsulated) re-encode byte for byte")
    func explicitLittleEndianRoundTrip() throws {
        var identical: [String] = []
        var unreadable: [String] = []
        for input in try Self.inputs() {
            let file: DICOMFile
            do {
                file = try DICOMFile(data: input.data, path: input.name)
            } catch {
                unreadable.append(input.name)
                continue
            }
            guard file.preamble != nil, file.hasFileMeta, let declared = Self.declaredSyntax(file),
                  declared.isExplicitVR, !declared.isBigEndian, !declared.isDeflated,
                  file.transferSyntax.isExplicitVR, !file.transferSyntax.isBigEndian else { continue }
            let output = try DICOMWriter.encode(file)
            if let expected = Self.knownDifferences[input.name] {
                switch expected {
                case .duplicateElementDropped(let tag):
                    #expect(file.warnings.contains { $0.kind == .malformed && $0.tag == tag }, "\(input.name): no warning about the repeated \(tag)")
                    let offset = try #require(Self.firstDifference(input.data, output), "\(input.name) is now identical; remove it from knownDifferences")
                    let removed = input.data.count - output.count
                    let x = [UInt8](input.data)
                    #expect(removed > 0, "\(input.name): output should be shorter")
                    guard removed > 0, offset >= removed, offset + removed <= x.count else { continue }
                    #expect(Array(x[offset..<(offset + removed)]) == Array(x[(offset - removed)..<offset]),
                            "\(input.name): the dropped bytes are not a copy of the element before them")
                    #expect(Data(x[0..<offset] + x[(offset + removed)...]) == output, "\(input.name): more than the duplicate differs")
                    var header = Bytes(.explicitLE)
                    header.tag(tag)
                    #expect(Array(x[offset..<(offset + 4)]) == header.bytes, "\(input.name): the dropped element is not \(tag)")
                }
                continue
            }
            if let offset = Self.firstDifference(input.data, output) {
                Issue.record("\(input.name): re-encoding differs at byte \(offset) (input \(input.data.count) bytes, output \(output.count))")
            } else {
                identical.append(input.name)
            }
        }
        print("round trip: \(identical.count) Part 10 explicit VR little endian files byte-identical, \(Self.knownDifferences.count) known difference(s), \(unreadable.count) unreadable")
        // Guard against a vacuous pass.
        #expect(identical.count >= 60, "only \(identical.count) files compared byte for byte")
        for name in unreadable {
            #expect(Self.knownUnreadable[name] != nil, "\(name) no longer reads; it used to")
        }
    }

    @Test("Every little-endian data set re-encodes byte for byte, implicit VR and raw data sets too")
    func datasetRoundTrip() throws {
        var compared = 0
        for input in try Self.inputs() {
            guard let file = try? DICOMFile(data: input.data, path: input.name) else { continue }
            guard !file.transferSyntax.isBigEndian, !file.transferSyntax.isDeflated,
                  Self.knownDifferences[input.name] == nil else { continue }
            let body = input.data[(input.data.startIndex + file.datasetOffset)...]
            let output = try DICOMWriter.encode(file.dataset, transferSyntax: file.transferSyntax)
            let odd = file.warnings.filter { $0.kind == .oddLength }
            if !odd.isEmpty {
                // Odd lengths are padded to even (PS3.5 §7.1.1): one byte
                // more per odd value, and the output reads without warnings.
                #expect(output.count == body.count + odd.count, "\(input.name): \(odd.count) odd values, \(output.count - body.count) bytes added")
                let reread = try DICOMFile(data: output, options: .full)
                #expect(reread.warnings.filter { $0.kind == .oddLength }.isEmpty, "\(input.name): padded output still has odd lengths")
                #expect(reread.dataset.count == file.dataset.count)
                compared += 1
                continue
            }
            if let offset = Self.firstDifference(Data(body), output) {
                Issue.record("\(input.name) (\(file.transferSyntax.uid)): data set re-encoding differs at data set byte \(offset) (file offset \(file.datasetOffset + offset))")
            }
            compared += 1
        }
        print("round trip: \(compared) little-endian data sets re-encoded (implicit, explicit, raw)")
        #expect(compared >= 80)
    }

    @Test("Known broken files fail strictly with the expected kind and read leniently")
    func knownBrokenFiles() throws {
        let byName = Dictionary(uniqueKeysWithValues: try Self.inputs().map { ($0.name, $0) })
        for (name, kind) in Self.knownUnreadable.sorted(by: { $0.key < $1.key }) {
            guard let input = byName[name] else { continue }   // another pydicom version
            let error = readError(input.data)
            #expect(error?.kind == kind, "\(name): \(error.map(String.init(describing:)) ?? "read without error")")
            #expect(error?.offset != nil, "\(name): the error names no offset")
            if kind == .notDICOM { continue }
            let lenient = try DICOMFile(data: input.data, options: ReadOptions(lenient: true))
            #expect(lenient.error?.kind == kind)
            #expect(lenient.dataset.count > 3, "\(name): lenient mode kept only \(lenient.dataset.count) elements")
            #expect(lenient.hasFileMeta)
        }
    }

    // MARK: Independent judges

    /// Every readable input re-encoded: explicit VR little endian, or the
    /// declared encapsulated syntax when the pixel data is encapsulated.
    struct Reencoded {
        let name: String
        let input: String
        let output: String
    }

    static func reencodeAll(into folder: String) throws -> (files: [Reencoded], refused: [String: DICOMError]) {
        var files: [Reencoded] = []
        var refused: [String: DICOMError] = [:]
        for input in try inputs() {
            guard var file = try? DICOMFile(data: input.data, path: input.name) else { continue }
            if file.dataset[Tag(0x7FE0, 0x0010)]?.fragments != nil {
                let declared = declaredSyntax(file)
                file.transferSyntax = declared.flatMap { $0.isEncapsulated ? $0 : nil } ?? .encapsulatedUncompressedExplicitVRLittleEndian
            } else {
                file.transferSyntax = .explicitVRLittleEndian
            }
            let output = folder + "/" + input.name.replacingOccurrences(of: "/", with: "__")
            do {
                try file.write(to: output)
                files.append(Reencoded(name: input.name, input: input.path, output: output))
            } catch {
                refused[input.name] = error
            }
        }
        return (files, refused)
    }

    /// Files the writer refuses to re-encode, and why.
    static let knownRefusals: [String: DICOMError.Kind] = [
        // Neither the meta nor the data set has a SOP Class/Instance UID, so
        // no valid file meta information can be written.
        "test_files/empty_charset_LEI.dcm": .invalidValue,
    ]

    @Test("dcmdump reads every re-encoded file without errors")
    func dcmdumpAcceptsReencodedFiles() throws {
        guard let dcmdump = TestEnvironment.tool("dcmdump") else { try TestEnvironment.missing("dcmdump (DCMTK, apt install dcmtk)") }
        let folder = try TestEnvironment.temporaryFolder("roundtrip-dcmdump")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (files, refused) = try Self.reencodeAll(into: folder)
        for (name, error) in refused {
            #expect(Self.knownRefusals[name] == error.kind, "writer refused \(name): \(error)")
        }
        #expect(files.count >= 90)
        for file in files {
            let (status, output) = try TestEnvironment.run(dcmdump, [file.output])
            let errors = output.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("F:") }
            #expect(status == 0 && errors.isEmpty, "dcmdump on re-encoded \(file.name): exit \(status)\n\(errors.joined(separator: "\n"))")
        }
    }

    @Test("dciodvfy finds no more errors in a re-encoded file than in its input")
    func dciodvfyFindsNoNewErrors() throws {
        guard let dciodvfy = TestEnvironment.tool("dciodvfy") else { try TestEnvironment.missing("dciodvfy (dicom3tools, apt install dicom3tools)") }
        let folder = try TestEnvironment.temporaryFolder("roundtrip-dciodvfy")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (files, _) = try Self.reencodeAll(into: folder)
        func errors(_ path: String) throws -> [Substring] {
            try TestEnvironment.run(dciodvfy, [path]).output.split(separator: "\n").filter { $0.hasPrefix("Error") }
        }
        var totals = (before: 0, after: 0)
        defer { print("dciodvfy over \(files.count) re-encoded files: \(totals.before) errors in the inputs, \(totals.after) in the outputs") }
        for file in files {
            let before = try errors(file.input)
            let after = try errors(file.output)
            totals.before += before.count
            totals.after += after.count
            let added = after.filter { !before.contains($0) }
            #expect(after.count <= before.count,
                    "dciodvfy: \(file.name) has \(before.count) errors, re-encoded \(after.count); new:\n\(added.joined(separator: "\n"))")
        }
    }
}
