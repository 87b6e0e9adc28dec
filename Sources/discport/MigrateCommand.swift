import ArgumentParser
import DICOM
import Foundation
import Jobs
import Reconcile

/// `discport migrate`: an old image-filing system into the store.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Migrate an old image-filing system (DICOM, JPEG, PNG, TIFF, BMP, PDF) into the store, resumably.",
        discussion: """
        Input: a manifest (--manifest FILE.csv or .jsonl; columns path,patient_id,patient_name,birth_date,sex,\
        study_date,study_key,study_description,modality,series_key; path and patient_id required; paths relative \
        to --root or the manifest's folder; UTF-8 or Shift_JIS), or a folder layout (--layout \
        '{patient_id}/{study_date:yyyyMMdd}/{*}' --root DIR). --id-map FILE.csv (old_id,new_id) maps old \
        Patient IDs to new ones.

        Every row is checked first (missing file, a file an earlier row names (also by another path), unknown \
        patient when the registry has entries, unparsable date, unsupported format, a study key shared by two \
        patients, rows contradicting their patient, study or series); --dry-run stops there. Then the good \
        rows are stored on both cores: DICOM files re-identified as an import would (Original Attributes kept, \
        pixels untouched), other files converted into the study their rows share (its UID derived from \
        patient and study key, the same in every run). The state of each row is kept in the catalog: after an \
        interruption, run the same command again; finished rows are never redone.

        Reports: --report FILE.csv or FILE.json (every row's outcome), --html FILE (counts per patient, \
        failures with reasons, throughput). Exit status: 0 every row is in the store, 1 some rows are invalid \
        or failed, 2 usage error, 3 the store cannot be opened.
        """
    )

    @Option(help: ArgumentHelp("The manifest: a CSV or JSON Lines file.", valueName: "file"))
    var manifest: String?

    @Option(help: ArgumentHelp("A folder layout pattern instead of a manifest, e.g. '{patient_id}/{study_date:yyyyMMdd}/{*}'.", valueName: "pattern"))
    var layout: String?

    @Option(help: ArgumentHelp("Where the manifest's paths (or the layout) start.", valueName: "dir"))
    var root: String?

    @Option(name: .customLong("id-map"), help: ArgumentHelp("A CSV mapping old_id to new_id.", valueName: "file"))
    var idMap: String?

    @Option(help: ArgumentHelp("The job's name (resuming needs the same); default: from the manifest or root.", valueName: "name"))
    var job: String?

    @Flag(name: .customLong("dry-run"), help: "Check every row and stop.")
    var dryRun = false

    @Option(help: ArgumentHelp("Write every row's outcome to FILE.csv or FILE.json.", valueName: "file"))
    var report: String?

    @Option(help: ArgumentHelp("Write an HTML summary.", valueName: "file"))
    var html: String?

    @Option(help: "Rows migrated, and files checked by the pre-flight, at once (default: twice the cores, at least 4).")
    var workers: Int = MigrationJob.defaultWorkers

    @Flag(help: "One JSON object per line (the default when standard output is not a terminal).")
    var json = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if (manifest == nil) == (layout == nil) { throw ValidationError("give --manifest FILE or --layout PATTERN (one of them)") }
        if layout != nil && root == nil { throw ValidationError("--layout needs --root DIR") }
        if workers < 1 || workers > 64 { throw ValidationError("--workers must be 1…64") }
    }

    func run() throws {
        let jsonLines = json || !Terminal.outputIsTTY
        // A manifest is gone through row by row (by the pre-flight, then
        // by the run), never held as rows.
        let input: MigrationInput
        do {
            if let manifest {
                input = try MigrationManifest.input(manifest, root: root)
            } else {
                let (rows, problems) = try MigrationManifest.fromLayout(root: root!, pattern: layout!)
                input = MigrationInput(rows: rows, problems: problems)
            }
        } catch let error as DecisionError {
            throw CLIError(error.description, status: 2)
        }
        var mapping: [String: String] = [:]
        if let idMap {
            do {
                mapping = try MigrationManifest.readIDMap(idMap)
            } catch let error as DecisionError {
                throw CLIError(error.description, status: 2)
            }
        }
        let name = job ?? Self.jobName(manifest: manifest, root: root)
        let catalog = try store.open()
        defer { try? catalog.close() }
        let migration = MigrationJob(store: catalog, job: name, workers: workers)
        let preflight: MigrationPreflight
        do {
            preflight = try migration.preflight(input, idMapping: mapping)
        } catch let error as DecisionError {
            throw CLIError(error.description, status: 2)     // a manifest that cannot be read
        }

        if jsonLines {
            let line: [String: Any] = ["event": "preflight", "job": name, "rows": preflight.good + preflight.problems.count,
                                       "good": preflight.good, "invalid": preflight.problems.count, "studies": preflight.studies]
            if let data = try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes]) { Terminal.writeOut(data + Data([0x0A])) }
        } else {
            print("Migration \(name): \(preflight.good + preflight.problems.count) rows, \(preflight.good) good, \(preflight.problems.count) invalid, \(preflight.studies) studies")
            for problem in preflight.problems.prefix(50) { print("  invalid: \(problem)") }
            if preflight.problems.count > 50 { print("  … and \(preflight.problems.count - 50) more (see --report)") }
        }

        let bar = ProgressBar(enabled: !jsonLines && !dryRun)
        bar.start(total: preflight.good, totalBytes: 0)
        // Every row's outcome is written to the report as it comes (in the
        // order rows finish), never collected in memory.
        let reportFile = try report.map { try MigrationReportFile(path: $0) }
        let summary: MigrationSummary
        do {
            summary = try migration.run(preflight, dryRun: dryRun) { outcome in
                reportFile?.add(outcome)
                if jsonLines {
                    // Every row, the invalid ones with their reason: a
                    // script learns from the events which rows were refused.
                    Terminal.writeOut(Self.rowEvent(outcome))
                } else {
                    if outcome.status == .invalid { return }   // listed by the pre-flight above
                    if outcome.status == .failed {
                        bar.clear()
                        Terminal.error("line \(outcome.line) \(outcome.path): \(outcome.message ?? "failed")")
                    }
                    bar.advance(bytes: 0)
                }
            }
        } catch let error as StoreFullError {
            bar.clear()
            try? reportFile?.finish()
            throw CLIError("the migration stopped: \(error)", status: 3)
        }
        bar.clear()
        try reportFile?.finish()
        if let html { try AtomicFile.write(Data(Self.html(summary).utf8), to: html) }
        if jsonLines {
            var finish = summary
            finish.notMigrated = []
            if let data = try? JSONOutput.data(finish, pretty: false) {
                Terminal.writeOut(Data("{\"event\":\"finish\",".utf8) + data.dropFirst() + Data([0x0A]))
            }
        } else {
            let s = summary
            print("\(s.dryRun ? "Dry run: \(s.planned) row(s) would be migrated" : "Stored \(s.stored) row(s), \(s.alreadyStored) already in the store, \(s.done) done by an earlier run"); \(s.invalid) invalid, \(s.failed) failed; \(s.instances) DICOM object(s), \(Terminal.size(s.bytes)) in \(String(format: "%.1f", s.seconds)) s")
        }
        if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
    }

    /// sop_instance_uids, as JSONOutput writes it.
    private static let sopInstanceUIDsKey = SnakeCaseKey("sopInstanceUIDs").stringValue

    /// `{"event":"row",…}` and a line feed: the outcome as
    /// `JSONOutput.data(_:pretty: false)` writes it (sorted snake_case keys,
    /// slashes not escaped, nil values left out), without a `JSONEncoder`
    /// per row.
    static func rowEvent(_ o: MigrationRowOutcome) -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(192 + o.path.utf8.count + 64 * o.sopInstanceUIDs.count)
        func string(_ text: String) {
            out.append(0x22)
            for byte in text.utf8 {
                switch byte {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x0A: out += [0x5C, 0x6E]
                case 0x0D: out += [0x5C, 0x72]
                case 0x09: out += [0x5C, 0x74]
                case 0x08: out += [0x5C, 0x62]
                case 0x0C: out += [0x5C, 0x66]
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                default: out.append(byte)
                }
            }
            out.append(0x22)
        }
        func key(_ name: String) {
            out.append(contentsOf: ",\"".utf8)
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: "\":".utf8)
        }
        out.append(contentsOf: "{\"event\":\"row\",\"line\":".utf8)
        out.append(contentsOf: String(o.line).utf8)
        if let message = o.message { key("message"); string(message) }
        key("path"); string(o.path)
        if let patientID = o.patientID { key("patient_id"); string(patientID) }
        key(sopInstanceUIDsKey)
        out.append(0x5B)
        for (index, uid) in o.sopInstanceUIDs.enumerated() {
            if index > 0 { out.append(0x2C) }
            string(uid)
        }
        out.append(0x5D)
        key("status"); string(o.status.rawValue)
        out += [0x7D, 0x0A]
        return Data(out)
    }

    /// A job name stable for the same input: the manifest's or root's absolute path.
    static func jobName(manifest: String?, root: String?) -> String {
        let path = manifest ?? root ?? "migration"
        return path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    static func html(_ s: MigrationSummary) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let statuses = ["stored", "already-stored", "done", "invalid", "failed", "planned"]
        var rows = ""
        for patient in s.patients.keys.sorted() {
            let counts = s.patients[patient]!
            rows += "<tr><td>\(escape(patient))</td>" + statuses.map { "<td>\(counts[$0] ?? 0)</td>" }.joined() + "</tr>\n"
        }
        var failures = ""
        for o in s.notMigrated {
            failures += "<tr><td>\(o.line)</td><td>\(escape(o.path))</td><td>\(o.status.rawValue)</td><td>\(escape(o.message ?? ""))</td></tr>\n"
        }
        let rate = s.seconds > 0 ? Double(s.rows) / s.seconds : 0
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>discport migration \(escape(s.job))</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .6em;text-align:left}</style>
        </head><body>
        <h1>Migration \(escape(s.job))</h1>
        <p>\(s.rows) rows: \(s.stored) stored, \(s.alreadyStored) already in the store, \(s.done) done by an earlier run, \(s.invalid) invalid, \(s.failed) failed.
        \(s.instances) DICOM objects, \(s.bytes) bytes read in \(String(format: "%.1f", s.seconds)) s (\(String(format: "%.0f", rate)) rows/s).</p>
        <h2>Per patient</h2>
        <table><tr><th>Patient ID</th>\(statuses.map { "<th>\($0)</th>" }.joined())</tr>
        \(rows)</table>
        <h2>Rows not migrated</h2>
        <table><tr><th>Line</th><th>Path</th><th>Status</th><th>Reason</th></tr>
        \(failures.isEmpty ? "<tr><td colspan=\"4\">none</td></tr>" : failures)</table>
        </body></html>

        """
    }
}

/// `--report FILE.csv|FILE.json`, written row by row as the migration goes
/// (from several threads) into a temporary file beside it, which is
/// flushed and renamed into place by ``finish()``. CSV: a header and one
/// line per row; JSON: an array with one object per row, one per line.
final class MigrationReportFile: @unchecked Sendable {
    private let path: String
    private let temporary: String
    private let handle: FileHandle
    private let isJSON: Bool
    private let lock = NSLock()
    private var first = true

    init(path: String) throws {
        self.path = path
        temporary = path + ".part-\(getpid())"
        isJSON = path.lowercased().hasSuffix(".json")
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary) else {
            throw CLIError("cannot write the report \(temporary)", status: 1)
        }
        self.handle = handle
        handle.write(Data((isJSON ? "[" : "line,path,patient_id,status,sop_instance_uids,message\r\n").utf8))
    }

    deinit {
        try? handle.close()
        unlink(temporary)     // still there: the run failed before finish()
    }

    func add(_ o: MigrationRowOutcome) {
        let line: Data
        if isJSON {
            guard let object = try? JSONOutput.data(o, pretty: false) else { return }
            line = Data((first ? "\n" : ",\n").utf8) + object
        } else {
            line = Data(([String(o.line), Self.cell(o.path), Self.cell(o.patientID), o.status.rawValue,
                          Self.cell(o.sopInstanceUIDs.joined(separator: " ")), Self.cell(o.message)]
                .joined(separator: ",") + "\r\n").utf8)
        }
        lock.lock()
        first = false
        handle.write(line)
        lock.unlock()
    }

    /// Completes the file, flushes it and renames it into place.
    func finish() throws {
        lock.lock()
        defer { lock.unlock() }
        if isJSON { handle.write(Data("\n]\n".utf8)) }
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else {
            throw CLIError("cannot write the report \(path): \(String(cString: strerror(errno)))", status: 1)
        }
        let folder = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 {
            _ = fsync(folder)
            _ = close(folder)
        }
    }

    private static func cell(_ text: String?) -> String {
        guard let text, !text.isEmpty else { return "" }
        return text.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}
