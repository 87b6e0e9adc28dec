import ArgumentParser
import DICOM
import DICOMXML
import Foundation

/// `discport dump`: print data sets like dcmdump, as DICOM JSON (PS3.18
/// Annex F) or as the Native DICOM Model (PS3.19). Formatting lives in the
/// libraries; this command only finds the files and routes the output.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print DICOM data sets like dcmdump, as DICOM JSON or as Native DICOM Model XML.",
        discussion: """
        With several files (or -r) the text output has a `# FILE path` heading per \
        file, --json prints a JSON array of {"path": ..., "dataset": {...}} and --xml \
        one document per file. A single file gives the bare data set object. \
        Exit status: 0 when every file was read, 1 when any failed, 2 for usage errors.
        """
    )

    @Argument(help: ArgumentHelp("DICOM files; folders with -r.", valueName: "file"))
    var paths: [String]

    @Flag(name: [.short, .long], help: "Walk folders and dump every DICOM file in them (found by content; other files are skipped).")
    var recursive = false

    @Flag(help: "Print the DICOM JSON model (PS3.18 Annex F).")
    var json = false

    @Flag(help: "Print the Native DICOM Model XML (PS3.19).")
    var xml = false

    @Flag(help: "Include the file meta information (group 0002) in --json and --xml output.")
    var meta = false

    @Flag(help: "On a fault, print what precedes it (the file still counts as failed).")
    var lenient = false

    @Flag(name: .customLong("header-only"), help: "Stop before the pixel data (reads only the header bytes).")
    var headerOnly = false

    func validate() throws {
        if json && xml { throw ValidationError("--json and --xml cannot be combined") }
        if !recursive {
            for path in paths where isDirectory(path) {
                throw ValidationError("'\(path)' is a folder; use -r to dump the DICOM files in it")
            }
        }
    }

    func run() throws {
        let options = ReadOptions(stopBeforePixelData: headerOnly, lenient: lenient)
        let inputs = collectInputs()
        let several = inputs.count > 1 || recursive
        let output = StandardOutput()
        var failed = false
        var jsonEntries = 0

        if json && several { output.write("[") }
        for input in inputs {
            let file: DICOMFile
            switch read(input, options: options) {
            case .skipped:
                continue
            case .failed(let error):
                report(error, path: input.path, after: output)
                failed = true
                continue
            case .read(let read):
                file = read
            }
            if let error = file.error {
                report(error, path: input.path, after: output)
                failed = true
            }
            if json || xml {
                for warning in file.warnings { reportWarning(warning, path: input.path, after: output) }
                // The text dump notes these beside the value; JSON and XML
                // have no room for notes.
                for (path, problem) in file.dataset.textProblems() {
                    let tags = path.map(\.description).joined(separator: " > ")
                    reportWarning(DICOMError(.invalidValue, "character set: \(problem) (shown as U+FFFD)", tag: nil),
                                  path: "\(input.path): \(tags)", after: output)
                }
            }

            if json {
                let jsonOptions = DICOMJSON.Options(pretty: true)
                if several {
                    output.write(jsonEntries == 0 ? "\n" : ",\n")
                    output.write(DICOMJSON.fileEntry(path: input.path, file: file, includeMeta: meta, options: jsonOptions))
                    jsonEntries += 1
                } else {
                    output.write(DICOMJSON.encode(file, includeMeta: meta, options: jsonOptions))
                    output.write("\n")
                }
            } else if xml {
                do {
                    output.write(try NativeDICOMModel.xml(for: file, includeMeta: meta, comment: several ? "FILE \(input.path)" : nil))
                } catch {
                    output.flush()
                    FileHandle.standardError.write(Data("discport: \(input.path): \(error)\n".utf8))
                    failed = true
                }
            } else {
                if several { output.write("# FILE \(input.path)\n") }
                output.write(file.dumpText())
                if several { output.write("\n") }
            }
        }
        if json && several { output.write(jsonEntries == 0 ? "]\n" : "\n]\n") }
        output.flush()
        if failed { throw ExitCode(1) }
    }

    // MARK: Inputs

    struct Input {
        var path: String
        /// Found by walking a folder: skipped quietly when not DICOM.
        var found: Bool
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private func collectInputs() -> [Input] {
        var inputs: [Input] = []
        for path in paths {
            if recursive && isDirectory(path) {
                inputs += walk(path).map { Input(path: $0, found: true) }
            } else {
                inputs.append(Input(path: path, found: false))
            }
        }
        return inputs
    }

    /// Regular files below `folder`, sorted by path. Symbolic links to
    /// files are followed; links to folders are not (no loops).
    private func walk(_ folder: String) -> [String] {
        var files: [String] = []
        func visit(_ directory: String, depth: Int) {
            guard depth < 64, let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
            for name in names {
                let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
                guard let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType else { continue }
                switch type {
                case .typeDirectory:
                    visit(path, depth: depth + 1)
                case .typeRegular:
                    files.append(path)
                case .typeSymbolicLink:
                    var isDirectory: ObjCBool = false
                    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                        files.append(path)
                    }
                default:
                    break
                }
            }
        }
        visit(folder, depth: 0)
        return files.sorted()
    }

    enum Outcome {
        case read(DICOMFile)
        case failed(DICOMError)
        case skipped
    }

    private func read(_ input: Input, options: ReadOptions) -> Outcome {
        if input.found && !options.stopBeforePixelData {
            // Found by walking: look at the header first, so a large file
            // that is not DICOM is skipped after a few kilobytes.
            do {
                _ = try DICOMFile(contentsOf: input.path, options: ReadOptions(stopBeforePixelData: true, lenient: true))
            } catch let error {
                if error.kind == .notDICOM { return .skipped }
            }
        }
        do {
            return .read(try DICOMFile(contentsOf: input.path, options: options))
        } catch let error {
            if input.found && error.kind == .notDICOM { return .skipped }
            return .failed(error)
        }
    }

    // MARK: Messages

    /// Errors go to standard error, after what was printed so far (so a
    /// terminal shows them next to the file they concern).
    private func report(_ error: DICOMError, path: String, after output: StandardOutput) {
        output.flush()
        var error = error
        if error.path == nil { error.path = path }
        var message = "discport: \(error.description)\n"
        if let hint = error.hint { message += "discport: hint: \(hint)\n" }
        FileHandle.standardError.write(Data(message.utf8))
    }

    private func reportWarning(_ warning: DICOMError, path: String, after output: StandardOutput) {
        output.flush()
        var warning = warning
        if warning.path == nil { warning.path = path }
        FileHandle.standardError.write(Data("discport: warning: \(warning.description)\n".utf8))
    }
}

/// Buffered standard output.
final class StandardOutput {
    private var buffer: [UInt8] = []

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 20 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        Terminal.writeOut(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
