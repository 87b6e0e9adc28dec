import ArgumentParser
import Foundation
import Media

/// `discport scan SOURCE [--json]`: what is on a medium and what is wrong with it.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Show what is on a disc, ISO, zip or folder, and what is wrong with it.",
        discussion: """
            Reads every file once (DICOM headers only), compares with the DICOMDIR, \
            and prints patients, studies and series with every problem found. \
            Exit status: 0 clean, 1 problems found (warnings or errors), 2 source unreadable (or the report could not be written).
            """
    )

    @Argument(help: "A folder, mounted disc, ISO image, disc drive, zip or tar archive, or single file.")
    var source: String

    @Flag(name: .long, help: "Print the report as JSON (schema in README.md).")
    var json = false

    func run() throws {
        let report = MediumScanner().scan(path: source)
        // JSON is written as it is made, piece by piece: never the whole text in memory.
        var status = report.exitStatus
        do {
            try report.write(json: json, to: FileHandle.standardOutput)
        } catch {
            // A full disk or a closed pipe: say so, never a crash or a report cut short in silence.
            FileHandle.standardError.write(Data("discport scan: cannot write the report to standard output: \(error.localizedDescription)\n".utf8))
            status = 2
        }
        // The process ends here: the report (on a large disc, tens of
        // thousands of strings) is left to it rather than freed piece by piece.
        withExtendedLifetime(report) { Foundation.exit(status) }
    }
}
