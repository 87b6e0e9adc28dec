// Shared helpers of the DICOM core tests (ReaderTests, WriterTests,
// RoundTripTests, FuzzTests): byte fixtures built by hand, and the external
// judges (pydicom's test data, dcmdump, dciodvfy) located on the machine.
#if canImport(Glibc)
import Glibc
#endif
import CZlib
import Foundation
import Testing
@testable import DICOM
import struct DICOM.Tag

// MARK: - Byte fixtures

/// How a fixture is encoded: VR explicitness and byte order.
struct FixtureEncoding: Sendable, CustomStringConvertible {
    var explicit: Bool
    var bigEndian: Bool

    static let implicitLE = FixtureEncoding(explicit: false, bigEndian: false)
    static let explicitLE = FixtureEncoding(explicit: true, bigEndian: false)
    static let explicitBE = FixtureEncoding(explicit: true, bigEndian: true)

    var transferSyntaxUID: String {
        explicit ? (bigEndian ? "1.2.840.10008.1.2.2" : "1.2.840.10008.1.2.1") : "1.2.840.10008.1.2"
    }

    var description: String {
        explicit ? (bigEndian ? "explicit VR big endian" : "explicit VR little endian") : "implicit VR little endian"
    }
}

/// Builds encoded data sets byte by byte, independently of the writer, so
/// reader tests do not trust the code they test.
struct Bytes {
    var encoding: FixtureEncoding
    var bytes: [UInt8] = []
    /// Offsets recorded by ``mark(_:)``: where the next element starts.
    var marks: [Tag: Int] = [:]

    init(_ encoding: FixtureEncoding) { self.encoding = encoding }

    /// Remembers the current offset under `tag` (the first mark wins).
    mutating func mark(_ tag: Tag) { if marks[tag] == nil { marks[tag] = bytes.count } }

    var data: Data { Data(bytes) }
    var count: Int { bytes.count }

    mutating func u16(_ v: UInt16) {
        if encoding.bigEndian { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] } else { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    }

    mutating func u32(_ v: UInt32) {
        if encoding.bigEndian { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) } else { u16(UInt16(v & 0xFFFF)); u16(UInt16(v >> 16)) }
    }

    mutating func u64(_ v: UInt64) {
        if encoding.bigEndian { u32(UInt32(v >> 32)); u32(UInt32(v & 0xFFFF_FFFF)) } else { u32(UInt32(v & 0xFFFF_FFFF)); u32(UInt32(v >> 32)) }
    }

    mutating func tag(_ t: Tag) { u16(t.group); u16(t.element) }

    /// Tag, VR (explicit) and a length; `length` defaults to the value's.
    mutating func header(_ t: Tag, _ vr: VR, length: UInt32) {
        tag(t)
        if encoding.explicit {
            bytes += Array(vr.rawValue.utf8)
            if vr.hasLongLength { u16(0); u32(length) } else { u16(UInt16(truncatingIfNeeded: length)) }
        } else {
            u32(length)
        }
    }

    /// A complete element with a defined length; `value` is written as given
    /// (already in the fixture's byte order).
    mutating func element(_ t: Tag, _ vr: VR, _ value: [UInt8], length: UInt32? = nil) {
        header(t, vr, length: length ?? UInt32(value.count))
        bytes += value
    }

    mutating func string(_ t: Tag, _ vr: VR, _ text: String) {
        var value = Array(text.utf8)
        if value.count % 2 == 1 { value.append(vr.paddingByte) }
        element(t, vr, value)
    }

    mutating func us(_ t: Tag, _ values: UInt16...) {
        var inner = Bytes(encoding)
        for v in values { inner.u16(v) }
        element(t, .US, inner.bytes)
    }

    mutating func ul(_ t: Tag, _ values: UInt32...) {
        var inner = Bytes(encoding)
        for v in values { inner.u32(v) }
        element(t, .UL, inner.bytes)
    }

    mutating func fd(_ t: Tag, _ values: Double...) {
        var inner = Bytes(encoding)
        for v in values { inner.u64(v.bitPattern) }
        element(t, .FD, inner.bytes)
    }

    mutating func fl(_ t: Tag, _ values: Float...) {
        var inner = Bytes(encoding)
        for v in values { inner.u32(v.bitPattern) }
        element(t, .FL, inner.bytes)
    }

    mutating func ss(_ t: Tag, _ values: Int16...) {
        var inner = Bytes(encoding)
        for v in values { inner.u16(UInt16(bitPattern: v)) }
        element(t, .SS, inner.bytes)
    }

    mutating func sl(_ t: Tag, _ values: Int32...) {
        var inner = Bytes(encoding)
        for v in values { inner.u32(UInt32(bitPattern: v)) }
        element(t, .SL, inner.bytes)
    }

    mutating func at(_ t: Tag, _ values: Tag...) {
        var inner = Bytes(encoding)
        for v in values { inner.tag(v) }
        element(t, .AT, inner.bytes)
    }

    /// OW words in the fixture's byte order.
    mutating func ow(_ t: Tag, _ words: [UInt16]) {
        var inner = Bytes(encoding)
        for v in words { inner.u16(v) }
        element(t, .OW, inner.bytes)
    }

    /// A sequence whose items are built by `items` (one closure per item).
    mutating func sequence(_ t: Tag, vr: VR = .SQ, undefinedLength: Bool, itemsUndefined: Bool,
                           itemEncoding: FixtureEncoding? = nil, _ items: [(inout Bytes) -> Void]) {
        var body = Bytes(encoding)
        for build in items {
            var content = Bytes(itemEncoding ?? encoding)
            build(&content)
            body.tag(.item)
            body.u32(itemsUndefined ? 0xFFFF_FFFF : UInt32(content.count))
            body.bytes += content.bytes
            if itemsUndefined { body.tag(.itemDelimitationItem); body.u32(0) }
        }
        header(t, vr, length: undefinedLength ? 0xFFFF_FFFF : UInt32(body.count))
        bytes += body.bytes
        if undefinedLength { tag(.sequenceDelimitationItem); u32(0) }
    }

    /// Encapsulated pixel data: offset table item, fragment items, delimiter.
    mutating func encapsulated(_ t: Tag = Tag(0x7FE0, 0x0010), offsetTable: [UInt8], fragments: [[UInt8]]) {
        header(t, .OB, length: 0xFFFF_FFFF)
        for value in [offsetTable] + fragments {
            tag(.item); u32(UInt32(value.count)); bytes += value
        }
        tag(.sequenceDelimitationItem); u32(0)
    }
}

enum Fixture {
    static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"
    static let instanceUID = "1.2.826.0.1.3680043.2.1143.1.1"

    /// File meta information (explicit VR little endian) with a correct group
    /// length; `transferSyntax` nil leaves (0002,0010) out.
    static func meta(transferSyntax: String?, extra: (inout Bytes) -> Void = { _ in }) -> [UInt8] {
        var group = Bytes(.explicitLE)
        group.element(Tag(0x0002, 0x0001), .OB, [0x00, 0x01])
        group.string(Tag(0x0002, 0x0002), .UI, ctImageStorage)
        group.string(Tag(0x0002, 0x0003), .UI, instanceUID)
        if let transferSyntax { group.string(Tag(0x0002, 0x0010), .UI, transferSyntax) }
        group.string(Tag(0x0002, 0x0012), .UI, "1.2.3.4")
        group.string(Tag(0x0002, 0x0013), .SH, "FIXTURE")
        extra(&group)
        var out = Bytes(.explicitLE)
        out.ul(Tag(0x0002, 0x0000), UInt32(group.count))
        return out.bytes + group.bytes
    }

    /// Where the data set starts in a ``part10(transferSyntax:body:)`` file.
    static func datasetStart(transferSyntax: String?) -> Int {
        132 + meta(transferSyntax: transferSyntax).count
    }

    /// Preamble, "DICM", meta and the body.
    static func part10(transferSyntax: String?, body: [UInt8]) -> Data {
        Data([UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + meta(transferSyntax: transferSyntax) + body)
    }

    /// A small, plausible header: specific character set, SOP class and
    /// instance, patient name and ID, rows/columns, pixel representation.
    /// `group9` adds elements between (0008,0060) and (0010,0010) (private
    /// group 0009); `middle` between (0010,0020) and (0028,0010).
    static func smallHeader(_ encoding: FixtureEncoding, group9: (inout Bytes) -> Void = { _ in },
                            middle: (inout Bytes) -> Void = { _ in }) -> Bytes {
        var b = Bytes(encoding)
        b.string(Tag(0x0008, 0x0005), .CS, "ISO_IR 100")
        b.string(Tag(0x0008, 0x0016), .UI, ctImageStorage)
        b.string(Tag(0x0008, 0x0018), .UI, instanceUID)
        b.string(Tag(0x0008, 0x0060), .CS, "CT")
        group9(&b)
        b.string(Tag(0x0010, 0x0010), .PN, "Doe^Jane")
        b.string(Tag(0x0010, 0x0020), .LO, "12345")
        middle(&b)
        b.us(Tag(0x0028, 0x0010), 4)
        b.us(Tag(0x0028, 0x0011), 4)
        b.us(Tag(0x0028, 0x0100), 16)
        b.us(Tag(0x0028, 0x0103), 0)
        return b
    }
}

// MARK: - Helpers on the library

extension Data {
    /// The bytes as an array, independent of the slice's indices.
    var byteArray: [UInt8] { [UInt8](self) }
}

extension DataElement {
    /// The value's bytes as an array; empty for sequences and fragments.
    var valueBytes: [UInt8] { bytes.map { [UInt8]($0) } ?? [] }
}

extension Dataset {
    /// The text of an element with trailing NUL/space padding removed,
    /// decoded as ASCII/UTF-8 (enough for fixtures; no character sets).
    func rawText(_ tag: Tag) -> String? {
        guard let data = self[tag]?.bytes else { return nil }
        var bytes = [UInt8](data)
        while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Runs `body` and returns the DICOMError it throws, or nil.
func readError(_ data: Data, options: ReadOptions = .full) -> DICOMError? {
    do {
        _ = try DICOMFile(data: data, options: options)
        return nil
    } catch {
        return error
    }
}

// MARK: - External judges

enum TestEnvironment {
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// A missing prerequisite: a failure in CI, a recorded skip elsewhere.
    static func missing(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Never {
        if isCI { throw Missing(what: what) }
        try Test.cancel("skipped: \(what) is not installed (run `make deps`)", sourceLocation: sourceLocation)
    }

    struct Missing: Error, CustomStringConvertible {
        let what: String
        var description: String { "\(what) is missing; CI=true requires it (run `make deps`)" }
    }

    /// Runs a program; returns its exit status and its standard output and
    /// error, interleaved. posix_spawn and waitpid rather than Foundation's
    /// Process, whose termination monitoring stalls when parallel tests
    /// occupy the few threads of a small machine.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 120) throws -> (status: Int32, output: String) {
        let outPath = NSTemporaryDirectory() + "discport-test-\(UUID().uuidString).out"
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw DICOMError(.io, "cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0 && errno != EINTR { break }
            if Date() > deadline { kill(pid, SIGKILL); _ = waitpid(pid, &status, 0); break }
            usleep(1_000)
        }
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let output = String(decoding: (FileManager.default.contents(atPath: outPath) ?? Data()), as: UTF8.self)
        return (exitStatus, output)
    }

    /// The full path of a program on PATH, or nil.
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// pydicom's bundled data folder (`pydicom/data`), located by asking python3.
    static let pydicomData: String? = {
        guard let python = tool("python3") else { return nil }
        guard let result = try? run(python, ["-c", "import pydicom.data,os;print(os.path.dirname(pydicom.data.__file__))"]),
              result.status == 0 else { return nil }
        let path = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        return path
    }()

    /// Every file in pydicom's data folder that may be DICOM (not Python,
    /// JSON, text, dumps or the gzip), sorted for determinism.
    static func pydicomFiles() throws -> [String] {
        guard let root = pydicomData else { try missing("pydicom (python3 -m pip install 'pydicom>=3')") }
        let skipped: Set<String> = ["py", "pyc", "json", "txt", "md", "dump", "icc", "gz"]
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let relative = enumerator?.nextObject() as? String {
            let path = root + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let name = (relative as NSString).lastPathComponent
            if skipped.contains((name as NSString).pathExtension.lowercased()) || name == "README" { continue }
            if relative.hasPrefix("__pycache__") { continue }
            files.append(path)
        }
        return files.sorted()
    }

    /// A fresh temporary folder, removed by the caller.
    static func temporaryFolder(_ label: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("discport-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }
}

/// A small deterministic generator (SplitMix64) for reproducible fuzzing.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Deflate (for Deflated Explicit VR Little Endian fixtures)

/// Raw deflate (RFC 1951, no zlib header) through the system zlib, as the
/// deflated transfer syntax wants it (PS3.5 §A.5).
func rawDeflate(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
    var stream = z_stream()
    guard deflateInit2_(&stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        fatalError("deflateInit2 failed")
    }
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
    var source = input
    let produced: Int = source.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = uInt(outBuffer.count)
            let status = deflate(&stream, Z_FINISH)
            precondition(status == Z_STREAM_END, "deflate did not finish: \(status)")
            return outBuffer.count - Int(stream.avail_out)
        }
    }
    return Array(output[0..<produced])
}
