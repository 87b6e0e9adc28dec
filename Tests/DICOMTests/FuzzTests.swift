// Seeded, deterministic fuzzing of the reader (and of the writer on what
// the reader accepts): truncations, bit flips and hostile length values in
// real files (pydicom's test data) and in the fixtures of ReaderTests.
//
// Every input is read four ways (full and header mode, strict and lenient).
// Nothing may crash or hang; failures are DICOMErrors (typed throws make that
// static) whose offsets lie inside the input; strict and lenient agree; header
// mode sees a prefix of what full mode sees; no single read takes a second.
//
// To find the input behind a crash: DISCPORT_FUZZ_TRACE=1 prints every input's
// name before it is read, and leaves its bytes in $TMPDIR/discport-fuzz-<shard>.dcm.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import DICOM
import struct DICOM.Tag

/// Seeded mutations of one input.
struct Mutator {
    var generator: SeededGenerator

    init(name: String, index: Int) {
        // FNV-1a of the name: stable across runs (unlike hashValue).
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        generator = SeededGenerator(seed: hash ^ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A position, mostly in the first 4 KB where the header lives.
    mutating func position(in count: Int) -> Int {
        guard count > 0 else { return 0 }
        if Int.random(in: 0..<4, using: &generator) < 3 {
            return Int.random(in: 0..<min(count, 4096), using: &generator)
        }
        return Int.random(in: 0..<count, using: &generator)
    }

    static let hostile32: [UInt32] = [0xFFFF_FFFF, 0, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 1, 3, 0x0001_0000, 0xFFFF, 0xFFFE_E000, 0xFFFE_E0DD]

    /// One mutated copy and what was done to it.
    mutating func mutate(_ input: [UInt8]) -> (bytes: [UInt8], what: String) {
        var bytes = input
        switch Int.random(in: 0..<5, using: &generator) {
        case 0:
            let cut = position(in: bytes.count)
            bytes.removeSubrange(cut...)
            return (bytes, "truncated at \(cut)")
        case 1, 2:
            let flips = Int.random(in: 1...8, using: &generator)
            var done: [String] = []
            for _ in 0..<flips where !bytes.isEmpty {
                let at = position(in: bytes.count)
                let bit = Int.random(in: 0..<8, using: &generator)
                bytes[at] ^= UInt8(1 << bit)
                done.append("\(at).\(bit)")
            }
            return (bytes, "bits flipped at \(done.joined(separator: ","))")
        case 3:
            // A hostile 32-bit value where a length or tag may be.
            guard bytes.count >= 4 else { return (bytes, "unchanged") }
            let at = min(position(in: bytes.count), bytes.count - 4)
            let value = Mutator.hostile32.randomElement(using: &generator)!
            for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
            return (bytes, String(format: "0x%08X written at %d", value, at))
        default:
            // A hostile 16-bit length, then a truncation.
            guard bytes.count >= 2 else { return (bytes, "unchanged") }
            let at = min(position(in: bytes.count), bytes.count - 2)
            let value = [UInt16(0xFFFF), 0xFFFE, 0, 1, 0x8000].randomElement(using: &generator)!
            bytes[at] = UInt8(value & 0xFF); bytes[at + 1] = UInt8(value >> 8)
            let cut = Int.random(in: at..<bytes.count, using: &generator)
            bytes.removeSubrange(max(cut, at + 2)...)
            return (bytes, String(format: "0x%04X written at %d, cut at %d", value, at, max(cut, at + 2)))
        }
    }
}

/// Kills the test process with a diagnosis when one read runs far too long
/// (a hang would otherwise only show as a CI timeout).
final class Watchdog: @unchecked Sendable {
    static let shared = Watchdog()
    private let lock = NSLock()
    private var current: [Int: (started: Date, what: String)] = [:]
    private var thread: Thread?

    func begin(_ shard: Int, _ what: String) {
        lock.lock(); defer { lock.unlock() }
        current[shard] = (Date(), what)
        if thread == nil {
            let t = Thread { [unowned self] in
                while true {
                    Thread.sleep(forTimeInterval: 0.5)
                    self.lock.lock()
                    let stuck = self.current.values.first { Date().timeIntervalSince($0.started) > 20 }
                    self.lock.unlock()
                    if let stuck {
                        FileHandle.standardError.write(Data("FUZZ HANG: more than 20 s reading \(stuck.what)\n".utf8))
                        exit(70)
                    }
                }
            }
            t.start()
            thread = t
        }
    }

    func end(_ shard: Int) {
        lock.lock(); defer { lock.unlock() }
        current[shard] = nil
    }
}

@Suite("Fuzzing the reader")
struct FuzzTests {
    static let mutationsPerFile = 24
    static let readLimit: Duration = .seconds(1)
    static let trace = ProcessInfo.processInfo.environment["DISCPORT_FUZZ_TRACE"] == "1"

    struct Outcome {
        var inputs = 0
        var reads = 0
        var failures = 0
        var slowest: Duration = .zero
        var slowestWhat = ""
    }

    /// Reads one input four ways and checks the invariants.
    static func check(_ bytes: [UInt8], what: String, shard: Int, outcome: inout Outcome, writeBack: Bool) {
        let data = Data(bytes)
        if trace {
            FileHandle.standardError.write(Data("fuzz[\(shard)] \(what)\n".utf8))
            try? data.write(to: URL(fileURLWithPath: NSTemporaryDirectory() + "discport-fuzz-\(shard).dcm"))
        }
        outcome.inputs += 1
        let clock = ContinuousClock()
        func timed<T>(_ mode: String, _ body: () throws(DICOMError) -> T) -> Result<T, DICOMError> {
            Watchdog.shared.begin(shard, "\(what) (\(mode))")
            defer { Watchdog.shared.end(shard) }
            var result: Result<T, DICOMError>!
            let elapsed = clock.measure { result = Result { () throws(DICOMError) in try body() } }
            outcome.reads += 1
            if elapsed > outcome.slowest { outcome.slowest = elapsed; outcome.slowestWhat = "\(what) (\(mode))" }
            #expect(elapsed < readLimit, "\(what) (\(mode)) took \(elapsed)")
            return result
        }
        func header(_ options: ReadOptions) throws(DICOMError) -> DICOMFile {
            try DICOMFile(size: data.count, path: nil, options: options) { count throws(DICOMError) in data.prefix(count) }
        }

        let strict = timed("full, strict") { () throws(DICOMError) in try DICOMFile(data: data) }
        let lenient = timed("full, lenient") { () throws(DICOMError) in try DICOMFile(data: data, options: ReadOptions(lenient: true)) }
        let headerStrict = timed("header, strict") { () throws(DICOMError) in try header(.header) }
        let headerLenient = timed("header, lenient") { () throws(DICOMError) in try header(ReadOptions(stopBeforePixelData: true, lenient: true)) }

        for (mode, result) in [("full, strict", strict), ("full, lenient", lenient), ("header, strict", headerStrict), ("header, lenient", headerLenient)] {
            switch result {
            case .failure(let error):
                outcome.failures += 1
                checkError(error, size: data.count, what: "\(what) (\(mode))")
            case .success(let file):
                if let error = file.error { checkError(error, size: data.count, what: "\(what) (\(mode), lenient)") }
                for warning in file.warnings { checkError(warning, size: data.count, what: "\(what) (\(mode), warning)") }
            }
        }

        // Strict and lenient agree: same success, or the lenient read carries
        // the strict error (or fails the same way before any data set).
        switch (strict, lenient) {
        case (.success(let s), .success(let l)):
            #expect(l.error == nil, "\(what): lenient found \(String(describing: l.error)) where strict succeeded")
            #expect(s.dataset.count == l.dataset.count, "\(what): strict and lenient read different data sets")
        case (.failure(let e), .success(let l)):
            #expect(l.error == e, "\(what): strict failed with \(e), lenient reported \(l.error.map(String.init(describing:)) ?? "no error")")
        case (.failure(let e), .failure(let f)):
            #expect(e == f, "\(what): strict and lenient fail differently: \(e) / \(f)")
        case (.success, .failure(let f)):
            Issue.record("\(what): lenient failed (\(f)) where strict succeeded")
        }

        // Header mode reads a prefix of what full mode reads.
        if case .success(let full) = strict, full.error == nil {
            switch headerStrict {
            case .success(let head):
                let fullTags = full.dataset.tags, headTags = head.dataset.tags
                if full.warnings.contains(where: { $0.message.contains("tag order") || $0.message.contains("repeated") }) {
                    // Elements after the pixel data may sort before it.
                    #expect(Set(headTags).isSubset(of: fullTags), "\(what): the header has elements the full data set lacks")
                } else {
                    #expect(headTags.count <= fullTags.count && Array(fullTags.prefix(headTags.count)) == headTags,
                            "\(what): the header is not a prefix of the full data set")
                }
                #expect(head.dataset[Tag(0x7FE0, 0x0010)] == nil || full.pixelDataOffset == nil)
            case .failure(let error):
                Issue.record("\(what): header mode failed (\(error)) where full mode succeeded")
            }
            // What was read can be written, and what was written reads back.
            if writeBack, DICOMWriter.canWrite(full.transferSyntax), full.hasFileMeta {
                if let encoded = try? DICOMWriter.encode(full) {
                    let reread = Result { () throws(DICOMError) in try DICOMFile(data: encoded) }
                    switch reread {
                    case .success(let again):
                        #expect(again.dataset.count == full.dataset.count, "\(what): re-encoded file reads back differently")
                    case .failure(let error):
                        Issue.record("\(what): re-encoded file does not read back: \(error)")
                    }
                }
            }
        }
    }

    static func checkError(_ error: DICOMError, size: Int, what: String) {
        guard !error.message.contains("inflated") else { return }   // offsets in the inflated stream
        if let offset = error.offset {
            #expect(offset >= 0 && offset <= size, "\(what): offset \(offset) outside the \(size)-byte input: \(error)")
        }
    }

    static func fuzz(_ inputs: [(name: String, bytes: [UInt8])], shard: Int) -> Outcome {
        var outcome = Outcome()
        for input in inputs {
            check(input.bytes, what: "\(input.name) unchanged", shard: shard, outcome: &outcome, writeBack: true)
            for index in 0..<mutationsPerFile {
                var mutator = Mutator(name: input.name, index: index)
                let (bytes, what) = mutator.mutate(input.bytes)
                check(bytes, what: "\(input.name) #\(index): \(what)", shard: shard, outcome: &outcome, writeBack: index % 4 == 0)
            }
        }
        return outcome
    }

    /// The hand-built fixtures: every encoding, deep sequences, CP-246,
    /// encapsulated and deflated data.
    static func fixtures() -> [(name: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        for encoding in [FixtureEncoding.implicitLE, .explicitLE, .explicitBE] {
            let nested = ReaderTests.nestedSequences(encoding)
            out.append(("nested \(encoding), raw", nested))
            out.append(("nested \(encoding), Part 10", [UInt8](Fixture.part10(transferSyntax: encoding.transferSyntaxUID, body: nested))))
        }
        let cp246 = Fixture.smallHeader(.explicitLE, group9: { b in
            b.string(Tag(0x0009, 0x0010), .LO, "ACME 1.0")
            b.sequence(Tag(0x0009, 0x1001), vr: .UN, undefinedLength: true, itemsUndefined: true, itemEncoding: .implicitLE, [
                { item in
                    item.string(Tag(0x0009, 0x0010), .LO, "ACME 1.0")
                    item.sequence(Tag(0x0009, 0x1011), undefinedLength: true, itemsUndefined: false, [
                        { item in item.string(Tag(0x0010, 0x0020), .LO, "NESTED") },
                    ])
                },
            ])
        })
        out.append(("CP-246", [UInt8](Fixture.part10(transferSyntax: FixtureEncoding.explicitLE.transferSyntaxUID, body: cp246.bytes))))
        var encapsulated = Fixture.smallHeader(.explicitLE)
        encapsulated.encapsulated(offsetTable: [0, 0, 0, 0, 8, 0, 0, 0], fragments: [[0xFF, 0xD8, 1, 2, 3, 4, 0xFF, 0xD9], [0xFF, 0xD8, 0xFF, 0xD9]])
        out.append(("encapsulated", [UInt8](Fixture.part10(transferSyntax: TransferSyntax.jpegBaseline.uid, body: encapsulated.bytes))))
        let deflated = rawDeflate(ReaderTests.nestedSequences(.explicitLE))
        out.append(("deflated", [UInt8](Fixture.part10(transferSyntax: TransferSyntax.deflatedExplicitVRLittleEndian.uid, body: deflated))))
        return out
    }

    @Test("Fixtures: thousands of mutations, never a crash, a hang or a slow read")
    func fuzzFixtures() throws {
        // Many more mutations per fixture: they are small and cover what
        // pydicom's files do not (BE sequences, CP-246, deflate).
        var outcome = Outcome()
        for fixture in Self.fixtures() {
            for round in 0..<10 {
                let part = Self.fuzz([(name: "\(fixture.name) round \(round)", bytes: fixture.bytes)], shard: 100)
                outcome.inputs += part.inputs; outcome.reads += part.reads; outcome.failures += part.failures
                if part.slowest > outcome.slowest { outcome.slowest = part.slowest; outcome.slowestWhat = part.slowestWhat }
            }
        }
        print("fuzz fixtures: \(outcome.inputs) inputs, \(outcome.reads) reads, \(outcome.failures) failed reads; slowest \(outcome.slowest) (\(outcome.slowestWhat))")
        #expect(outcome.inputs >= 2_000)
    }

    static let shards = 4

    @Test("pydicom's test files: mutations in four shards", arguments: 0..<4)
    func fuzzPydicomFiles(_ shard: Int) throws {
        let files = try TestEnvironment.pydicomFiles()
        let root = TestEnvironment.pydicomData ?? ""
        var inputs: [(name: String, bytes: [UInt8])] = []
        for (index, path) in files.enumerated() where index % Self.shards == shard {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            inputs.append((String(path.dropFirst(root.count + 1)), bytes))
        }
        let outcome = Self.fuzz(inputs, shard: shard)
        print("fuzz pydicom shard \(shard): \(inputs.count) files, \(outcome.inputs) inputs, \(outcome.reads) reads, \(outcome.failures) failed reads; slowest \(outcome.slowest) (\(outcome.slowestWhat))")
        #expect(outcome.inputs >= inputs.count * Self.mutationsPerFile)
    }
}
