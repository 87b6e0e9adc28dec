import ArgumentParser
import Codecs
import DICOM
import Foundation
import Jobs

extension TranscodeTarget: ExpressibleByArgument {}

struct TranscodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "Decompress pixel data (or RLE-compress it) into another transfer syntax.",
        discussion: """
        Decodes RLE, JPEG (baseline, extended 8/12-bit, lossless), JPEG-LS, JPEG 2000 and HTJ2K and \
        writes Explicit VR Little Endian, Implicit VR Little Endian or RLE Lossless: Photometric \
        Interpretation and Planar Configuration as decompressed, lossy history kept ((0028,2110) \
        01 with ratio and method), SOP Instance UID and all other elements unchanged. Files are \
        written atomically under --out, keeping their path relative to each folder argument. \
        Exit status: 0 all written (files without pixel data or not DICOM are skipped), 1 some \
        could not be transcoded, 2 usage error.
        """
    )

    @Argument(help: ArgumentHelp("DICOM files or folders.", valueName: "file|dir"))
    var inputs: [String]

    @Option(help: "Target transfer syntax: explicit-le, implicit-le or rle.")
    var to: TranscodeTarget

    @Option(help: ArgumentHelp("Output folder (created if needed).", valueName: "dir"))
    var out: String

    @Flag(help: "One line per file (default: failures and the summary only).")
    var verbose = false

    func run() throws {
        let verbose = self.verbose
        let summary: TranscodeJob.Summary
        do {
            summary = try TranscodeJob(target: to, outputDirectory: out).run(inputs) { outcome in
                switch outcome.status {
                case .failed: Terminal.error("\(outcome.source): \(outcome.message ?? "failed")")
                case .skipped where verbose: print("skipped \(outcome.source): \(outcome.message ?? "")")
                case .written where verbose: print("\(outcome.source) → \(outcome.destination ?? "")")
                default: break
                }
            }
        } catch {
            throw CLIError(error.description, status: 2)
        }
        print("transcode: \(summary.written) written, \(summary.skipped) skipped, \(summary.failed) failed")
        if summary.failed > 0 { throw CLIError("\(summary.failed) file(s) could not be transcoded", status: 1) }
    }
}
