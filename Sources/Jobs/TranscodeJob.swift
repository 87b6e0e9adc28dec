import Codecs
import DICOM
import Foundation
import Synchronization

/// `discport transcode`, and the per-file call export uses: decodes each
/// file's pixel data and writes it in another transfer syntax under an
/// output folder, atomically, two files at a time.
public struct TranscodeJob: Sendable {
    public let target: TranscodeTarget
    public let outputDirectory: String
    public let width: Int

    public init(target: TranscodeTarget, outputDirectory: String, width: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)) {
        self.target = target
        self.outputDirectory = outputDirectory
        self.width = width
    }

    public struct Outcome: Sendable {
        public enum Status: String, Sendable { case written, skipped, failed }
        public var source: String
        public var destination: String?
        public var status: Status
        /// Transfer syntax of the source, when it was read.
        public var sourceSyntax: String?
        /// Why it was skipped or failed.
        public var message: String?
    }

    public struct Summary: Sendable {
        public var outcomes: [Outcome]
        public var written: Int { outcomes.filter { $0.status == .written }.count }
        public var skipped: Int { outcomes.filter { $0.status == .skipped }.count }
        public var failed: Int { outcomes.filter { $0.status == .failed }.count }
    }

    /// Transcodes one file to `destination` (written atomically).
    public static func transcode(file path: String, to destination: String, target: TranscodeTarget) throws(DICOMError) {
        let file = try DICOMFile(contentsOf: path)
        let output = try Transcoder.transcode(file, to: target)
        try output.write(to: destination)
    }

    /// Every file named or found under the folders named; each written to
    /// the output folder under its path relative to the argument it came from.
    public func run(_ inputs: [String], progress: @escaping @Sendable (Outcome) -> Void = { _ in }) throws(DICOMError) -> Summary {
        var work: [(source: String, destination: String)] = []
        let fm = FileManager.default
        let outputRoot = (outputDirectory as NSString).standardizingPath
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw DICOMError(.io, "no such file or folder", path: input)
            }
            if isDirectory.boolValue {
                let root = (input as NSString).standardizingPath
                guard let subpaths = try? fm.subpathsOfDirectory(atPath: root) else {
                    throw DICOMError(.io, "cannot list the folder", path: input)
                }
                for subpath in subpaths.sorted() {
                    let source = root + "/" + subpath
                    if source.hasPrefix(outputRoot + "/") { continue }   // never re-read our own output
                    var sub: ObjCBool = false
                    guard fm.fileExists(atPath: source, isDirectory: &sub), !sub.boolValue else { continue }
                    if (subpath as NSString).lastPathComponent.hasPrefix(".") { continue }
                    work.append((source, outputRoot + "/" + subpath))
                }
            } else {
                work.append((input, outputRoot + "/" + (input as NSString).lastPathComponent))
            }
        }
        let destinations = Set(work.map(\.destination))
        guard destinations.count == work.count else {
            throw DICOMError(.invalidValue, "two inputs would be written to the same output file; transcode them into separate folders")
        }
        for item in work where (item.source as NSString).standardizingPath == item.destination {
            throw DICOMError(.invalidValue, "the output folder would overwrite the source", path: item.source)
        }

        let results = Mutex<[Outcome?]>(Array(repeating: nil, count: work.count))
        let next = Atomic<Int>(0)
        let target = self.target
        let items = work
        DispatchQueue.concurrentPerform(iterations: max(1, min(width, items.count))) { _ in
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < items.count else { return }
                let outcome = TranscodeJob.one(items[index].source, items[index].destination, target: target)
                results.withLock { $0[index] = outcome }
                progress(outcome)
            }
        }
        return Summary(outcomes: results.withLock { $0.compactMap { $0 } })
    }

    static func one(_ source: String, _ destination: String, target: TranscodeTarget) -> Outcome {
        let file: DICOMFile
        do {
            file = try DICOMFile(contentsOf: source)
        } catch where error.kind == .notDICOM {
            return Outcome(source: source, destination: nil, status: .skipped, sourceSyntax: nil, message: "not a DICOM file: \(error.message)")
        } catch {
            // A DICOM file that cannot be read (truncated, malformed, unreadable)
            // is a failure, named, never skipped as if it were not DICOM.
            var unnamed = error
            unnamed.path = nil      // the outcome names the file
            return Outcome(source: source, destination: nil, status: .failed, sourceSyntax: nil, message: "cannot read the DICOM file: \(unnamed.description)")
        }
        let syntax = "\(file.transferSyntax.name) (\(file.transferSyntax.uid))"
        guard file.dataset[.pixelData] != nil else {
            return Outcome(source: source, destination: nil, status: .skipped, sourceSyntax: syntax, message: "no Pixel Data")
        }
        do {
            let output = try Transcoder.transcode(file, to: target)
            try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try output.write(to: destination)
            return Outcome(source: source, destination: destination, status: .written, sourceSyntax: syntax, message: nil)
        } catch let error as DICOMError {
            return Outcome(source: source, destination: nil, status: .failed, sourceSyntax: syntax, message: error.message)
        } catch {
            return Outcome(source: source, destination: nil, status: .failed, sourceSyntax: syntax, message: "\(error)")
        }
    }
}
