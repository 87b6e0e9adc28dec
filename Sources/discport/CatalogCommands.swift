import ArgumentParser
import Foundation
import Jobs
import Reconcile
import Store

/// `discport ls patients|studies|series|instances`.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the patients, studies, series or instances in the store.",
        discussion: "With --json, an array with one object per row. Exit status: 0, or 3 when the store cannot be opened."
    )

    enum Level: String, ExpressibleByArgument, CaseIterable {
        case patients, studies, series, instances
    }

    @Argument(help: "patients, studies, series or instances.")
    var level: Level

    @Option(name: .customLong("patient-id"), help: "Only studies of this patient.")
    var patientID: String?

    @Option(help: "Only series of this study (Study Instance UID).")
    var study: String?

    @Option(help: "Only instances of this series (Series Instance UID).")
    var series: String?

    @Flag(help: "Print a JSON array.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() throws {
        let catalog = try store.openForReading()
        defer { try? catalog.close() }
        switch level {
        case .patients:
            let rows = try catalog.patients(patientID: patientID)
            if json { return try JSONOutput.print(rows) }
            print(TextTable.render(["PATIENT ID", "ISSUER", "NAME", "BIRTH", "SEX", "STUDIES", "INSTANCES"], rows.map {
                [$0.patientID, $0.issuerOfPatientID ?? "", $0.patientName ?? "", $0.birthDate ?? "", $0.sex ?? "",
                 String($0.studyCount), String($0.instanceCount)]
            }), terminator: "")
        case .studies:
            let rows = try catalog.studies(patientID: patientID)
            if json { return try JSONOutput.print(rows) }
            print(TextTable.render(["STUDY INSTANCE UID", "PATIENT ID", "ISSUER", "DATE", "MODALITIES", "SERIES", "INSTANCES", "DESCRIPTION"], rows.map {
                [$0.studyInstanceUID, $0.patientID, $0.issuerOfPatientID ?? "", $0.studyDate ?? "", $0.modalities.joined(separator: "/"),
                 String($0.seriesCount), String($0.instanceCount), $0.studyDescription ?? ""]
            }), terminator: "")
        case .series:
            let rows = try catalog.series(studyInstanceUID: study)
            if json { return try JSONOutput.print(rows) }
            print(TextTable.render(["SERIES INSTANCE UID", "MODALITY", "NUMBER", "INSTANCES", "DESCRIPTION"], rows.map {
                [$0.seriesInstanceUID, $0.modality ?? "", $0.seriesNumber.map(String.init) ?? "", String($0.instanceCount),
                 $0.seriesDescription ?? ""]
            }), terminator: "")
        case .instances:
            let rows = try catalog.instances(seriesInstanceUID: series)
            if json { return try JSONOutput.print(rows) }
            print(TextTable.render(["SOP INSTANCE UID", "NUMBER", "SIZE", "PATIENT ID", "ISSUER", "PATH"], rows.map {
                [$0.sopInstanceUID, $0.instanceNumber.map(String.init) ?? "", String($0.size), $0.patientID,
                 $0.issuerOfPatientID ?? "", $0.storedPath]
            }), terminator: "")
        }
    }
}

/// `discport show UID|PATIENT-ID`.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a patient (by Patient ID), study, series or instance (by UID) of the store.",
        discussion: "Exit status: 0 found, 1 nothing matches, 3 the store cannot be opened."
    )

    @Argument(help: "A Patient ID, or a Study, Series or SOP Instance UID.")
    var identifier: String

    @Flag(help: "Print JSON: {patients, studies, series, instances, conflicts, audit, below}; below: {studies, series, instances} one level under what matched.")
    var json = false

    @OptionGroup var store: StoreOptions

    struct Shown: Encodable {
        var patients: [PatientRecord]
        var studies: [StudyRecord]
        var series: [SeriesRecord]
        var instances: [InstanceRecord]
        var conflicts: [ConflictRecord]
        var audit: [AuditEntry]
        /// One level below what matched: a patient's studies, a study's
        /// series, a series' instances.
        var below: Below
        struct Below: Encodable {
            var studies: [StudyRecord]
            var series: [SeriesRecord]
            var instances: [InstanceRecord]
        }
    }

    func run() throws {
        let catalog = try store.openForReading()
        defer { try? catalog.close() }
        let found = try catalog.lookup(identifier)
        if found.isEmpty { throw CLIError("nothing in the store matches '\(identifier)'", status: 1) }
        let below = try catalog.below(found)
        var shown = Shown(patients: found.patients, studies: found.studies, series: found.series,
                          instances: found.instances, conflicts: found.conflicts, audit: [],
                          below: .init(studies: below.studies, series: below.series, instances: below.instances))
        if found.instances.count == 1 {
            shown.audit = try catalog.auditLog(sopInstanceUID: found.instances[0].sopInstanceUID)
        }
        if json { return try JSONOutput.print(shown) }

        var out = ""
        for p in found.patients {
            out += "Patient \(p.patientID)\(p.issuerOfPatientID.map { " (issuer \($0))" } ?? "")  \(p.patientName ?? "")  born \(p.birthDate ?? "?")  sex \(p.sex ?? "?")  \(p.studyCount) stud\(p.studyCount == 1 ? "y" : "ies"), \(p.instanceCount) instance(s)\n"
            for s in below.studies where s.patientID == p.patientID && (s.issuerOfPatientID ?? "") == (p.issuerOfPatientID ?? "") {
                out += "  study \(s.studyInstanceUID)  \(s.studyDate ?? "")  \(s.modalities.joined(separator: "/"))  \(s.studyDescription ?? "")  \(s.seriesCount) series, \(s.instanceCount) instance(s)\n"
            }
        }
        for s in found.studies {
            out += "Study \(s.studyInstanceUID)  patient \(s.patientID)\(s.issuerOfPatientID.map { " (issuer \($0))" } ?? "") \(s.patientName ?? "")  \(s.studyDate ?? "")  \(s.modalities.joined(separator: "/"))  \(s.studyDescription ?? "")  \(s.seriesCount) series, \(s.instanceCount) instance(s)\n"
            for se in below.series where se.studyInstanceUID == s.studyInstanceUID {
                out += "  series \(se.seriesInstanceUID)  \(se.modality ?? "")  #\(se.seriesNumber.map(String.init) ?? "-")  \(se.seriesDescription ?? "")  \(se.instanceCount) instance(s)\n"
            }
        }
        for s in found.series {
            out += "Series \(s.seriesInstanceUID)  study \(s.studyInstanceUID)  \(s.modality ?? "")  #\(s.seriesNumber.map(String.init) ?? "-")  \(s.seriesDescription ?? "")  \(s.instanceCount) instance(s)\n"
            for i in below.instances where i.seriesInstanceUID == s.seriesInstanceUID {
                out += "  instance \(i.sopInstanceUID)  #\(i.instanceNumber.map(String.init) ?? "-")  \(i.size) bytes  \(i.path)\n"
            }
        }
        for i in found.instances {
            out += """
            Instance \(i.sopInstanceUID)
              SOP class        \(i.sopClassUID)
              transfer syntax  \(i.transferSyntaxUID)
              patient / study  \(i.patientID)\(i.issuerOfPatientID.map { " (issuer \($0))" } ?? "") / \(i.studyInstanceUID)
              series           \(i.seriesInstanceUID)
              file             \(i.path) (\(i.size) bytes, sha256 \(i.sha256))
              original         \(i.originalPath ?? "-")\(i.importID.map { " (import #\($0))" } ?? "")
              stored at        \(i.storedAt)\(i.fileMetaAdded ? "  (file meta information added)" : "")\n
            """
        }
        for c in found.conflicts {
            out += "Conflict \(c.sopInstanceUID)  kept aside at \(c.path)  from \(c.originalPath ?? "-")  (\(c.reason), \(c.detectedAt))\n"
        }
        if !shown.audit.isEmpty {
            out += "Audit:\n"
            for entry in shown.audit { out += "  \(entry.at)  \(entry.action)  \(entry.operatorName)  \(entry.detail ?? "")\n" }
        }
        print(out, terminator: "")
    }
}

/// `discport store check`.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Look after the store.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Verify every stored file against the catalog (SHA-256), list missing files and orphans.",
            discussion: "Exit status: 0 clean, 1 corrupted, missing or orphan files found, 3 the store cannot be opened."
        )

        @Flag(help: "Print the report as JSON.")
        var json = false

        @OptionGroup var store: StoreOptions

        func run() throws {
            let catalog = try store.openForReading()
            defer { try? catalog.close() }
            let report = try catalog.check()
            if json {
                try JSONOutput.print(report)
            } else {
                var out = "Checked \(report.instancesChecked) instance(s) and \(report.conflictsChecked) conflict copies, \(Terminal.size(report.bytesChecked)).\n"
                for finding in report.corrupted {
                    out += "CORRUPTED  \(finding.path)  \(finding.sopInstanceUID)  expected sha256 \(finding.expectedSHA256), found \(finding.actualSHA256 ?? "?")\n"
                }
                for finding in report.missing {
                    out += "MISSING    \(finding.path)  \(finding.sopInstanceUID)\(finding.error.map { "  (\($0))" } ?? "")\n"
                }
                for orphan in report.orphans { out += "ORPHAN     \(orphan)  (no catalog row; re-run the import that wrote it)\n" }
                out += report.isClean ? "The store is consistent.\n" : "The store has problems (see above).\n"
                print(out, terminator: "")
            }
            if !report.isClean { throw ExitCode(1) }
        }
    }
}

/// `discport reassign STUDY-UID --to LOCAL-ID`.
struct ReassignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reassign",
        abstract: "File a stored study under another local patient (corrects a mistaken import).",
        discussion: """
        Every instance of the study is rewritten as an import would coerce it: Patient ID (and, \
        from the registry, name, birth date and sex) replaced, the previous values kept in a new \
        Original Attributes Sequence item, pixel data untouched; the study moves to the patient in \
        the catalog; the decisions remembered for the study's foreign identities (Other Patient IDs \
        of its instances) that named the previous patient move to the new one, so the next disc of \
        that patient follows the correction; every step is in the audit log. Safe to run again after \
        an interruption. \
        Exit status: 0 done, 1 some instances could not be rewritten (the study stays where it was), \
        2 usage error, 3 the store cannot be opened or has no such study.
        """
    )

    @Argument(help: "The Study Instance UID.")
    var study: String

    @Option(help: ArgumentHelp("The local Patient ID to file it under.", valueName: "id"))
    var to: String

    @Option(help: "Issuer of the local Patient ID.")
    var issuer: String?

    @Flag(name: .customLong("keep-demographics"), help: "Coerce only Patient ID and issuer.")
    var keepDemographics = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        for (value, name) in [(to, "--to"), (issuer, "--issuer")] {
            if let value, let problem = LocalPatientIdentifier.problem(value, name: name) { throw ValidationError(problem) }
        }
    }

    func run() throws {
        let catalog = try store.openForReading()
        defer { try? catalog.close() }
        let (identity, registered) = try PatientResolver(store: catalog)
            .localIdentity(patientID: to, issuer: issuer, demographics: !keepDemographics)
        if registered == nil { Terminal.error("note: \(to) is not in the registry: only the Patient ID is coerced") }
        let summary: ReassignJob.Summary
        do {
            summary = try ReassignJob(store: catalog).run(study: study, to: identity)
        } catch let error as StoreError {
            throw CLIError(error.description, status: 3)
        }
        print("study \(summary.studyInstanceUID): \(summary.previousPatientIDs.joined(separator: ", ")) → \(summary.patientID): \(summary.rewritten) instance(s) rewritten, \(summary.alreadyDone) already done")
        for moved in summary.movedDecisions {
            print("remembered decision moved: \(moved.foreignLabel) → \(moved.localID) (later discs of that patient follow it)")
        }
        if !summary.failures.isEmpty {
            for failure in summary.failures { Terminal.error(failure) }
            throw CLIError("\(summary.failures.count) instance(s) could not be rewritten; the study stays filed where it was", status: 1)
        }
    }
}
