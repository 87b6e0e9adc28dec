import ArgumentParser
import DICOM
import Foundation
import Jobs
import Media
import Network
import Reconcile
import Store
import Synchronization

/// `discport import SOURCE`: scan, decide the patient, confirm, copy.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a patient's disc, ISO, zip or folder into the store.",
        discussion: """
        Scans the source (as `discport scan`), shows what is on it, decides for each \
        patient on it whose local patient the images belong to, asks for confirmation \
        on a terminal, then copies every instance into the store: byte-exact when the \
        identity is kept, with Patient ID coerced and the original identity kept in \
        Original Attributes Sequence when a local Patient ID is assigned. Importing \
        the same source again skips what is stored, after a quick look at each stored \
        file (no hashing; `discport store check` hashes): one missing or of another \
        size than the catalog says is written again from the source (audited as \
        restore, with what was repaired); an instance whose UID is stored \
        with other content is kept aside as a conflict, never overwritten; an instance \
        already stored under another patient than the one decided now is not filed \
        again: it is reported as a conflict naming that patient (move the study with \
        `discport reassign`), and the decision is not remembered.

        Patient decision, per patient, first that applies: --patient-id LOCAL (a \
        single-patient medium) or FOREIGN=LOCAL (repeatable); a --mapping file row; \
        the decision remembered from an earlier disc with the same foreign issuer and \
        ID (shown) — only when it was taken for the same person: a birth date, sex or \
        name that differs, or (for an ID without issuer) birth date and name that do \
        not both agree, passes it over and the patient is decided anew; --auto: the one registered patient whose birth date and name match \
        exactly with nothing against it (ambiguity or doubt leaves the patient out, \
        with the candidates); --as-is: the identity on the medium. On a terminal \
        without these, discport shows the registry's candidates with the reasons each \
        matches or not and asks. Assigned patients found in the registry get its \
        name, birth date and sex too (--keep-demographics: only the ID). Every \
        assignment is remembered for the next disc from that hospital.

        However decided, an assignment is applied as given, but a warning (in the \
        plan shown before confirmation and in --dry-run, a `warning` event with \
        --json, the end report and the audit log) says when the local patient's \
        demographics (the registry's, else the store's) contradict the medium's \
        patient — another birth date or sex, a clearly different name; spacing, \
        kana against kanji and kanji variants are no contradiction — and when two \
        patients of the medium go to one local patient (or one is assigned the \
        Patient ID and issuer another keeps) without being shown to be one person \
        (birth date and name equal, or the same Patient ID).

        A patient kept as it is (--as-is, or '=' on the terminal) whose Patient ID \
        with the same issuer (or both without issuer) the registry or the store \
        already knows as someone else — another birth date or sex, a clearly \
        different name — is refused: the store files patients by Patient ID and \
        issuer, so the two people would become one patient. It is left out (a \
        `kept-id-in-use` warning with `refused`, wherever warnings go; exit status \
        1); give it a local Patient ID instead (--patient-id FOREIGN=LOCAL, a \
        --mapping row, or a choice on the terminal). So is a later patient of the \
        medium kept with the same Patient ID and issuer as an earlier one (the \
        scan tells them apart by name) when the two are not shown to be one \
        person — birth date and name equal, or, only with an issuer, nothing \
        against them; choose a local Patient ID for each on the terminal.

        --send NODE: afterwards the instances (as stored, reconciled) are sent to \
        the node through the retry queue, one status each. --no-store: they go to \
        the node only — written coerced into the outbox under the store's home, \
        removed once the node acknowledges them; the catalog keeps the import run \
        and the send queue (keyed by SOP Instance UID and the source's SHA-256), so \
        running the same import again sends nothing new, and after a failure or a \
        kill the next run (or `discport send --to NODE`) finishes the job.

        Output: a progress bar on a terminal; one JSON object per line (events \
        `scan`, `message`, `decision`, `warning`, `start`, `instance`, `send`, `finish`) with --json or when standard \
        output is not a terminal.

        Exit status: 0 every instance of the imported patients is in the store (and \
        acknowledged by the node with --send); 1 conflicts (also instances already \
        stored under another patient), failures, instances the \
        node has not acknowledged, damaged files, an incomplete read, or a patient left \
        out because no unique match was found or its kept Patient ID is someone \
        else's in the clinic or on the medium; 2 usage error or no patient decision; 3 the source or the store cannot be opened; 4 the user \
        declined.
        """
    )

    @Argument(help: "A folder, mounted disc, ISO image, disc drive (/dev/sr0), zip or tar archive, or single file.")
    var source: String

    @Option(name: .customLong("patient-id"), help: ArgumentHelp(
        "The local Patient ID (single-patient medium), or FOREIGN=LOCAL for one patient of the medium; repeatable.",
        valueName: "id"))
    var patientIDs: [String] = []

    @Option(help: ArgumentHelp("Issuer of Patient ID written with the local Patient ID.", valueName: "issuer"))
    var issuer: String?

    @Flag(name: .customLong("as-is"), help: "Keep the identity on the medium (for patients not given a --patient-id); a Patient ID the registry or the store knows as someone else is refused.")
    var asIs = false

    @Flag(help: "Take the registered patient that uniquely matches birth date and name; leave out patients with no unique exact match.")
    var auto = false

    @Option(help: ArgumentHelp("A CSV mapping foreign_id[,foreign_issuer] to local_id[,local_issuer], for scripts.", valueName: "file"))
    var mapping: String?

    @Option(name: .customLong("candidates-from"), help: ArgumentHelp(
        "Take the candidates for --auto and the choice from this node (C-FIND, patient root) instead of the registry.", valueName: "node"))
    var candidatesFrom: String?

    @Option(name: .customLong("send"), help: ArgumentHelp(
        "After the import, send the imported instances (as stored, reconciled) to this node, through the retry queue.", valueName: "node"))
    var sendTo: String?

    @Flag(name: .customLong("no-store"), help: "With --send: store the instances in the node only; nothing is written into the local store (the catalog keeps the import run and the send queue, so a re-run sends nothing new).")
    var noStore = false

    @Flag(name: .customLong("from-worklist"), help: "With --candidates-from: ask the node's Modality Worklist for today's scheduled patients instead (C-FIND MWL).")
    var fromWorklist = false

    @Flag(name: .customLong("keep-demographics"), help: "Coerce only Patient ID and issuer; keep the medium's name, birth date and sex.")
    var keepDemographics = false

    @Option(help: ArgumentHelp("The foreign Accession Number: keep or clear (recorded either way).", valueName: "keep|clear"))
    var accession: AccessionPolicy = .keep

    @Flag(help: "Also convert the medium's JPEG, PNG, TIFF, BMP and PDF files into DICOM and import them into new series of the patient's latest study (one imported patient only); on a medium without DICOM, for the patient of --patient-id LOCAL, in a new study.")
    var convert = false

    @Flag(name: [.short, .long], help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .customLong("dry-run"), help: "Show what would be imported; write nothing.")
    var dryRun = false

    @Flag(help: "One JSON object per line (the default when standard output is not a terminal).")
    var json = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if noStore && sendTo == nil { throw ValidationError("--no-store needs --send NODE") }
        if noStore && convert { throw ValidationError("--convert stores the converted files: it cannot be combined with --no-store") }
        if mapping != nil && !patientIDs.isEmpty { throw ValidationError("--mapping and --patient-id cannot be combined") }
        for value in patientIDs {
            let parts = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.last.map({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) ?? true {
                throw ValidationError("--patient-id '\(value)': the local Patient ID is empty")
            }
            if let local = parts.last, let problem = LocalPatientIdentifier.problem(local.trimmingCharacters(in: .whitespaces), name: "--patient-id") {
                throw ValidationError(problem)
            }
        }
        if let issuer, let problem = LocalPatientIdentifier.problem(issuer, name: "--issuer") { throw ValidationError(problem) }
        let singles = patientIDs.filter { !$0.contains("=") }
        if singles.count > 1 || (singles.count == 1 && patientIDs.count > 1) {
            throw ValidationError("give one --patient-id LOCAL, or FOREIGN=LOCAL for each patient of the medium")
        }
    }

    func run() throws {
        let jsonLines = json || !Terminal.outputIsTTY
        let output = ImportOutput(jsonLines: jsonLines, progressBar: !jsonLines && Terminal.outputIsTTY)
        let instanceStore = dryRun ? try store.openExisting() : try store.open()
        let job = ImportJob(source: source, store: instanceStore)

        var plan = job.scan()
        let report = plan.report
        output.scanned(report)
        var unresolved = 0
        if report.patients.isEmpty {
            if !report.complete { throw CLIError("cannot read \(source)", status: 3) }
            try decideDocuments(&plan, job: job, output: output)
        } else {
            plan.accession = accession
            plan.convertLooseFiles = convert
            unresolved = try decide(&plan, job: job, output: output)
        }
        // Assignments something speaks against: applied as decided, but
        // said before anyone confirms (and in a dry run).
        let warnings: [IdentityWarning]
        do {
            warnings = try job.identityWarnings(plan)
        } catch {
            throw CLIError("cannot look up the local patients: \(error)", status: 3)
        }
        output.plan(plan, warnings: warnings)
        // Kept identities the clinic uses for someone else are left out
        // (the job leaves them out too: `plan` goes to it as decided, so
        // its report and audit name them).
        let importable = plan.leavingOut(warnings)
        let refused = warnings.filter(\.refused).count
        let doubtful = warnings.count - refused

        if !dryRun && !yes && Terminal.inputIsTTY && Terminal.outputIsTTY && (importable.plannedInstances > 0 || plan.documentsPatient != nil) {
            let question = plan.documentsPatient.map { "Convert \(plan.convertibleFiles.count) document(s)/photo(s) into DICOM for patient \($0.patientID) and import them? [y/N] " }
                ?? "Import \(importable.plannedInstances) instance(s), \(Terminal.size(importable.plannedBytes))\(doubtful == 0 ? "" : " despite the \(doubtful) warning(s) above")? [y/N] "
            guard let answer = Terminal.ask(question), ["y", "yes"].contains(answer.lowercased()) else {
                throw CLIError("nothing imported", status: 4)
            }
        }
        if importable.plannedInstances == 0 && plan.documentsPatient == nil {
            output.message(refused > 0 ? "every patient chosen for import was left out (see the warnings); nothing imported"
                : "no patient was chosen for import; nothing imported")
            throw ExitCode(unresolved > 0 || refused > 0 ? 1 : 2)
        }
        var send: ImportSend?
        if let sendTo, let instanceStore, !dryRun {
            send = ImportSend(peer: try NetworkOptions.peer(sendTo, in: instanceStore), keepInStore: !noStore)
        }
        let summary: ImportSummary
        do {
            summary = try job.run(plan, dryRun: dryRun, send: send) { event in output.event(event) }
        } catch {
            throw CLIError("the import stopped: \(error)", status: 3)
        }
        try instanceStore?.close()
        if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
        if unresolved > 0 { throw ExitCode(1) }
    }

    /// A medium without DICOM instances: its documents and photos are
    /// imported only when asked (`--convert`) for a named local patient
    /// (`--patient-id LOCAL`); otherwise nothing is imported and the exit
    /// status says so (1), with what to do.
    private func decideDocuments(_ plan: inout ImportPlan, job: ImportJob, output: ImportOutput) throws {
        let documents = plan.convertibleFiles.count
        guard documents > 0 else {
            output.message("nothing to import on \(source): no DICOM instances, no documents or photos (JPEG, PNG, TIFF, BMP, PDF)")
            throw ExitCode(1)
        }
        guard convert else {
            output.message("no DICOM instances on \(source), but \(documents) document(s)/photo(s) (JPEG, PNG, TIFF, BMP, PDF): nothing imported; import them as DICOM with --convert --patient-id LOCAL")
            throw ExitCode(1)
        }
        guard patientIDs.count == 1, let local = patientIDs.first, !local.contains("=") else {
            throw CLIError("the medium holds no DICOM, so its \(documents) document(s)/photo(s) name no patient: give the local patient with --patient-id LOCAL", status: 2)
        }
        do {
            plan.documentsPatient = try job.documentsPatient(localPatientID: local.trimmingCharacters(in: .whitespaces))
        } catch {
            throw CLIError(error.description, status: 2)
        }
        plan.convertLooseFiles = true
    }

    /// One decision per patient of the medium: proposed by the job from the
    /// options, the registry and remembered decisions; the rest asked on a
    /// terminal, or left out.
    private func decide(_ plan: inout ImportPlan, job: ImportJob, output: ImportOutput) throws -> Int {
        var options = IdentityOptions()
        for value in patientIDs {
            if let separator = value.firstIndex(of: "=") {
                options.localPatientIDByForeignID[String(value[..<separator])] =
                    String(value[value.index(after: separator)...]).trimmingCharacters(in: .whitespaces)
            } else {
                options.localPatientID = value.trimmingCharacters(in: .whitespaces)
            }
        }
        options.issuer = issuer
        options.keepAsIs = asIs
        options.automatic = auto
        options.demographics = !keepDemographics
        if let candidatesFrom {
            guard let store = job.store else { throw CLIError("--candidates-from needs a store", status: 2) }
            options.candidates = try NetworkOptions.peer(candidatesFrom, in: store).candidates(worklist: fromWorklist)
        }
        if let mapping {
            guard let data = FileManager.default.contents(atPath: mapping) else { throw CLIError("cannot read \(mapping)", status: 2) }
            do {
                options.mappings = try IdentityMapping.parseCSV(data)
            } catch {
                throw CLIError("\(mapping): \(error.description)", status: 2)
            }
        }
        let proposals: [PatientProposal]
        do {
            proposals = try job.propose(plan, options: options)
        } catch let error as DecisionError {
            throw CLIError(error.description, status: 2)
        }
        let interactive = Terminal.inputIsTTY && Terminal.outputIsTTY && !yes
        var unresolved = 0
        for (index, proposal) in proposals.enumerated() {
            let patient = plan.report.patients[index]
            let label = "\(patient.patientID ?? "(no ID)") \(patient.name ?? "")"
            switch proposal {
            case .decided(let decision, let how, let note):
                plan.decisions[index] = decision
                plan.decidedBy[index] = how
                if let note { output.message("\(label): \(note)") }
            case .undecided(let candidates, let why):
                if interactive {
                    let (decision, how) = try ask(patient, candidates: candidates, why: why)
                    plan.decisions[index] = decision
                    plan.decidedBy[index] = how
                } else if auto || !patientIDs.isEmpty || mapping != nil {
                    output.message("\(label): \(why). Not imported; decide with --patient-id \(patient.patientID ?? "FOREIGN")=LOCAL")
                    unresolved += 1
                } else {
                    let listing = plan.report.patients.map {
                        "  \($0.patientID ?? "(no ID)")  \($0.name ?? "(no name)")  \($0.birthDate ?? "")  \($0.instanceCount) instance(s)"
                    }.joined(separator: "\n")
                    throw CLIError("\(label): \(why).\nWhose images are these? Give --patient-id LOCAL (or FOREIGN=LOCAL per patient), --auto, --mapping FILE or --as-is; the medium holds:\n\(listing)", status: 2)
                }
            }
        }
        return unresolved
    }

    /// Asks on the terminal which local patient this is, showing the ranked
    /// candidates with the reasons each matched or not.
    private func ask(_ patient: ScanReport.Patient, candidates: [PatientMatch], why: String) throws -> (PatientDecision, DecisionSource?) {
        let id = patient.patientID ?? ""
        print("\nPatient on the medium: \(patient.name ?? "(no name)")  ID \(id.isEmpty ? "(none)" : id)\(patient.issuerOfPatientID.map { " (\($0))" } ?? "")  born \(patient.birthDate ?? "?")  sex \(patient.sex ?? "?")  \(patient.instanceCount) instance(s)")
        if candidates.isEmpty {
            print("  No registered patient to propose (\(why)).")
        } else {
            print("  Registered patients, best first:")
            for (number, match) in candidates.enumerated() {
                let c = match.candidate
                print("  [\(number + 1)] \(c.patientID)  \(c.personName.dicomForm)  born \(c.birthDate ?? "?")  sex \(c.sex ?? "?")\(match.isExact ? "  (exact)" : "")")
                for reason in match.reasons { print("        \(reason.outcome == .match ? "+" : reason.outcome == .mismatch ? "-" : "~") \(reason.detail)") }
            }
        }
        let choices = candidates.isEmpty ? "" : "a number, "
        while true {
            guard let answer = Terminal.ask("Local patient (\(choices)a Patient ID, '=' to keep \(id.isEmpty ? "it" : id), 's' to skip, 'q' to quit): ") else {
                throw CLIError("nothing imported", status: 4)
            }
            switch answer {
            case "": continue
            case "q": throw CLIError("nothing imported", status: 4)
            case "s": return (.skip, nil)
            case "=":
                if id.isEmpty { print("This patient has no ID on the medium; type the local one."); continue }
                return (.keepSourceIdentity, nil)
            default:
                if let number = Int(answer), (1...candidates.count).contains(number) {
                    var identity = LocalIdentity(candidates[number - 1].candidate)
                    if keepDemographics { identity = identity.withoutDemographics }
                    return (.assign(identity), .interactive)
                }
                if answer.count > 64 { print("A Patient ID has at most 64 characters."); continue }
                return (.assign(LocalIdentity(patientID: answer, issuerOfPatientID: issuer)), .interactive)
            }
        }
    }
}

/// Everything the import prints: text with a progress bar on a terminal,
/// or JSON lines. Events arrive from several threads.
final class ImportOutput: Sendable {
    let jsonLines: Bool
    let progressBar: Bool
    private let bar: ProgressBar

    init(jsonLines: Bool, progressBar: Bool) {
        self.jsonLines = jsonLines
        self.progressBar = progressBar
        self.bar = ProgressBar(enabled: progressBar)
    }

    private func line(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        Terminal.writeOut(data + Data([0x0A]))
    }

    private func encodedLine<T: Encodable>(_ event: String, _ value: T) {
        guard var data = try? JSONOutput.data(value, pretty: false) else { return }
        // {"event":"…", …fields}
        data.removeFirst()
        let head = Data("{\"event\":\"\(event)\"\(data.count > 1 ? "," : "")".utf8)
        Terminal.writeOut(head + data + Data([0x0A]))
    }

    func message(_ text: String) {
        if jsonLines {
            line(["event": "message", "message": text])
        } else {
            Terminal.error(text)
        }
    }

    func scanned(_ report: ScanReport) {
        if jsonLines {
            line(["event": "scan", "source": report.source.path, "complete": report.complete,
                  "patients": report.totals.patients, "studies": report.totals.studies, "series": report.totals.series,
                  "instances": report.totals.instances, "damaged": report.totals.damaged, "loose": report.totals.loose,
                  "problems": report.problems.count])
        } else {
            print(report.textSummary(), terminator: "")
        }
    }

    func plan(_ plan: ImportPlan, warnings: [IdentityWarning] = []) {
        let refused = Set(warnings.filter(\.refused).flatMap(\.patients))
        let rows = zip(plan.report.patients, plan.decisions).enumerated().map { index, row -> (String, String) in
            let (patient, decision) = row
            let source = "\(patient.patientID ?? "(no ID)") \(patient.name ?? "")"
            if refused.contains(index) {
                return (source, "not imported: its Patient ID \(patient.patientID ?? "") is someone else's (see the warnings)")
            }
            switch decision {
            case .keepSourceIdentity: return (source, "as is (Patient ID \(patient.patientID ?? ""))")
            case .assign(let identity): return (source, "as local patient \(identity.patientID) (coerced; original identity kept)")
            case .skip: return (source, "not imported")
            }
        }
        if let local = plan.documentsPatient {
            let count = plan.convertibleFiles.count
            if jsonLines {
                line(["event": "decision", "patient": plan.report.patients.count, "source": "\(count) document(s)/photo(s)",
                      "decision": "assign", "patient_id": local.patientID])
            } else {
                print("\nImport plan:\n  \(count) document(s)/photo(s) → converted into DICOM for local patient \(local.patientID) \(local.patientName ?? ""), in a new study")
            }
            return   // a medium of documents has no patients of its own
        }
        defer { self.warnings(warnings) }
        if jsonLines {
            for (index, row) in rows.enumerated() {
                var object: [String: Any] = ["event": "decision", "patient": index, "source": row.0.trimmingCharacters(in: .whitespaces)]
                if refused.contains(index) {
                    object["decision"] = "refused"
                    line(object)
                    continue
                }
                switch plan.decisions[index] {
                case .keepSourceIdentity: object["decision"] = "as-is"; object["patient_id"] = plan.report.patients[index].patientID ?? ""
                case .assign(let identity): object["decision"] = "assign"; object["patient_id"] = identity.patientID
                case .skip: object["decision"] = "skip"
                }
                line(object)
            }
        } else {
            print("\nImport plan:")
            let flagged = Set(warnings.flatMap(\.patients))
            for (index, row) in rows.enumerated() {
                print("  \(row.0) → \(row.1)\(flagged.contains(index) ? "  (see the warning below)" : "")")
            }
        }
    }

    /// The doubtful assignments (``ImportJob/identityWarnings(_:matcher:)``):
    /// `warning` events, or `warning:` lines under the plan.
    func warnings(_ warnings: [IdentityWarning]) {
        guard !warnings.isEmpty else { return }
        if jsonLines {
            for warning in warnings { encodedLine("warning", warning) }
        } else {
            print("")
            for warning in warnings { print("warning: \(warning.message)") }
            if warnings.contains(where: { !$0.refused }) {
                print("discport applies the decisions warned about as given: check them before confirming.")
            }
            if warnings.contains(where: \.refused) {
                print("Patients whose kept Patient ID is someone else's in the clinic or on this medium are left out: give them a local Patient ID to import them.")
            }
        }
    }

    func event(_ event: ImportEvent) {
        switch event {
        case .started(let start):
            bar.start(total: start.instances, totalBytes: start.bytes)
            if jsonLines { encodedLine("start", start) }
        case .instance(let instance):
            if jsonLines {
                Terminal.writeOut(Self.jsonLine(instance))
            } else {
                if instance.outcome == .failed || instance.outcome == .conflict {
                    bar.clear()
                    Terminal.error("\(instance.outcome == .failed ? "failed" : "conflict"): \(instance.path): \(instance.message ?? "stored with other content; this copy kept aside")")
                }
                bar.advance(bytes: instance.size)
            }
        case .sent(let sent):
            if jsonLines {
                encodedLine("send", sent)
            } else if sent.outcome == .failed || sent.outcome == .conflict {
                bar.clear()
                Terminal.error("send: \(sent.sourcePath ?? sent.path): \(sent.message ?? "failed")")
            }
        case .finished(let summary):
            if jsonLines {
                encodedLine("finish", summary)
            } else {
                bar.clear()
                print(Self.text(summary), terminator: "")
            }
        }
    }

    /// An `instance` event as one JSON line, keys sorted as JSONOutput
    /// sorts them; written by hand because it is printed once per file
    /// (JSONEncoder costs more than storing a small file).
    static func jsonLine(_ e: InstanceEvent) -> Data {
        var out = "{\"event\":\"instance\",\"coerced\":\(e.coerced)"
        func field(_ key: String, _ value: String?) {
            guard let value else { return }
            out += ",\"\(key)\":" + DICOMJSON.quoted(value)
        }
        field("converted_from", e.convertedFrom)
        field("message", e.message)
        field("outcome", e.outcome.rawValue)
        field("path", e.path)
        out += ",\"patient\":\(e.patient)"
        field("patient_id", e.patientID)
        out += ",\"size\":\(e.size)"
        field("sop_instance_uid", e.sopInstanceUID)
        field("stored_path", e.storedPath)
        out += "}\n"
        return Data(out.utf8)
    }

    /// The end report.
    static func text(_ s: ImportSummary) -> String {
        var out = "\n" + (s.dryRun ? "Dry run (nothing written)" : "Import \(s.importID.map { "#\($0) " } ?? "")finished")
            + " in \(String(format: "%.1f", s.seconds)) s\n"
        for patient in s.patients {
            let c = patient.counts
            let target = patient.patientID.map { "→ \($0)" } ?? "not imported"
            out += "  \(patient.sourcePatientID ?? "(no ID)") \(patient.sourceName ?? "") \(target): "
            out += s.dryRun ? "\(c.wouldStore) new, \(c.wouldSkipKnown) already stored\n"
                : (c.outgoing > 0 ? "\(c.outgoing) for the node only (not stored), " : "")
                + "\(c.stored + c.adopted) imported, \(c.duplicates) already stored, \(c.conflicts) conflicts, \(c.failed) failed, \(c.skipped) skipped\n"
        }
        let c = s.counts
        if s.dryRun {
            out += "Total: \(c.wouldStore) would be imported, \(c.wouldSkipKnown) already stored, \(c.failed) unreadable, \(c.skipped) skipped\n"
        } else {
            out += "Total: \(c.stored + c.adopted) imported (\(Terminal.size(c.bytes)) read), \(c.duplicates) skipped as already stored, "
                + "\(c.conflicts) conflicts, \(c.failed) failed, \(c.skipped) not imported\n"
        }
        if !s.conflicts.isEmpty {
            out += "Conflicts (the store keeps its copy; these were set aside or are stored under another patient):\n"
            for event in s.conflicts {
                out += "  \(event.path)  \(event.sopInstanceUID ?? "")  → \(event.storedPath ?? "")\n"
                if let message = event.message { out += "    \(message)\n" }
            }
        }
        if !s.failures.isEmpty {
            out += "Failed:\n"
            for event in s.failures { out += "  \(event.path): \(event.message ?? "")\n" }
        }
        if !s.unreadable.isEmpty {
            out += "Damaged DICOM files on the medium (not imported):\n"
            for path in s.unreadable { out += "  \(path)\n" }
        }
        if s.converted > 0 { out += "Converted from JPEG/PNG/TIFF/BMP/PDF files and imported: \(s.converted) object(s)\n" }
        for note in s.conversionNotes { out += "  \(note)\n" }
        if !s.looseFiles.isEmpty && s.converted == 0 {
            out += "Non-DICOM files (not imported; --convert converts JPEG, PNG, TIFF, BMP and PDF): \(s.looseFiles.count)\n"
            for file in s.looseFiles.prefix(20) { out += "  \(file.path) (\(file.kind), \(Terminal.size(file.size)))\n" }
            if s.looseFiles.count > 20 { out += "  … and \(s.looseFiles.count - 20) more\n" }
        }
        if let error = s.mediumError { out += "The medium was not read completely: \(error)\n" }
        let applied = s.warnings.filter { !$0.refused }, refused = s.warnings.filter(\.refused)
        if !applied.isEmpty {
            out += "Warnings (applied as decided):\n"
            for warning in applied { out += "  \(warning.message)\n" }
        }
        if !refused.isEmpty {
            out += "Left out (the Patient ID they would keep is someone else's in the clinic or on this medium):\n"
            for warning in refused { out += "  \(warning.message)\n" }
        }
        if let send = s.send {
            if c.outgoing > 0 { out += "Not stored (--no-store): \(c.outgoing) instance(s) written for \(send.node) only\n" }
            out += "Sent to \(send.node): \(send.sent) sent, \(send.alreadySent) already sent, \(send.failed) failed"
            if send.converted > 0 { out += " (\(send.converted) converted losslessly: the node refused their transfer syntax)" }
            if send.conflicts > 0 { out += "; \(send.conflicts) not sent: the node has their UID from other content" }
            if send.pending > 0 { out += "; \(send.pending) pending: run `discport send --to \(send.node)`" }
            out += "\n"
        }
        return out
    }
}

extension AccessionPolicy: ExpressibleByArgument {}
