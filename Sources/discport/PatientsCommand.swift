import ArgumentParser
import DICOM
import Foundation
import Reconcile
import Store

/// `discport patients import|add|show|ls`: the clinic's own patients, which
/// discs are reconciled to.
struct PatientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patients",
        abstract: "The local patient registry that imported discs are matched to.",
        subcommands: [Import.self, Add.self, Show.self, List.self]
    )

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Load or update the registry from the clinic system's CSV export.",
            discussion: """
            The header row names at least patient_id,issuer,alphabetic,ideographic,phonetic,birth_date,sex \
            (other columns are ignored). Names are DICOM PN groups (Family^Given), birth dates YYYYMMDD, \
            sex M, F or O. UTF-8 (with or without BOM) or Shift_JIS. Rows are matched by patient_id and \
            issuer: new ones are added, changed ones updated. A file with any bad row is refused whole, \
            every bad row listed. Exit status: 0 loaded, 1 refused, 3 the store cannot be opened.
            """
        )

        @Argument(help: "The CSV file.")
        var file: String

        @Option(help: ArgumentHelp("auto (UTF-8 if valid, else Shift_JIS), utf-8 or shift_jis.", valueName: "encoding"))
        var encoding: String = "auto"

        @OptionGroup var store: StoreOptions

        func validate() throws {
            guard RegistryCSV.Encoding(rawValue: encoding.lowercased()) != nil else {
                throw ValidationError("--encoding must be auto, utf-8 or shift_jis")
            }
        }

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIError("cannot read \(file)", status: 1)
            }
            let parsed: (patients: [RegisteredPatient], encoding: RegistryCSV.Encoding)
            do {
                parsed = try RegistryCSV.parse(data, encoding: RegistryCSV.Encoding(rawValue: encoding.lowercased())!)
            } catch {
                throw CLIError("\(file): \(error.description)", status: 1)
            }
            let catalog = try store.open()
            defer { try? catalog.close() }
            let counts = try catalog.register(parsed.patients, source: file)
            print("\(file) (\(parsed.encoding.rawValue)): \(parsed.patients.count) patient(s); \(counts.inserted) added, \(counts.updated) updated, \(parsed.patients.count - counts.inserted - counts.updated) unchanged")
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add or update one registry entry.",
            discussion: "Exit status: 0 saved, 2 invalid values, 3 the store cannot be opened."
        )

        @Option(name: .customLong("patient-id"), help: "The local Patient ID.")
        var patientID: String

        @Option(help: "Issuer of Patient ID.")
        var issuer: String?

        @Option(help: ArgumentHelp("The name as a DICOM PN value: alphabetic=ideographic=phonetic, each Family^Given.", valueName: "pn"))
        var name: String?

        @Option(name: .customLong("birth-date"), help: ArgumentHelp("YYYYMMDD.", valueName: "date"))
        var birthDate: String?

        @Option(help: "M, F or O.")
        var sex: String?

        @OptionGroup var store: StoreOptions

        func run() throws {
            let groups = PersonName(name ?? "")
            let patient = RegisteredPatient(
                patientID: patientID, issuer: issuer,
                alphabetic: groups.alphabetic.isEmpty ? nil : groups.alphabetic,
                ideographic: groups.ideographic.isEmpty ? nil : groups.ideographic,
                phonetic: groups.phonetic.isEmpty ? nil : groups.phonetic,
                birthDate: birthDate, sex: sex?.uppercased())
            let problems = patient.problems
            guard problems.isEmpty else { throw CLIError(problems.joined(separator: "; "), status: 2) }
            let catalog = try store.open()
            defer { try? catalog.close() }
            let counts = try catalog.register([patient], source: "discport patients add")
            print(counts.inserted > 0 ? "added \(patientID)" : counts.updated > 0 ? "updated \(patientID)" : "\(patientID) unchanged")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "One registry entry, the foreign identities reconciled to it, and what the store holds of it.",
            discussion: "Exit status: 0 found, 1 not in the registry, 3 the store cannot be opened."
        )

        @Argument(help: "The local Patient ID.")
        var patientID: String

        @Flag(help: "Print JSON: {registry, mappings, patients}.")
        var json = false

        @OptionGroup var store: StoreOptions

        struct Shown: Encodable {
            var registry: [RegisteredPatient]
            var mappings: [IdentityMapping]
            var patients: [PatientRecord]
        }

        func run() throws {
            let catalog = try store.open()
            defer { try? catalog.close() }
            let shown = Shown(registry: try catalog.registry(patientID: patientID),
                              mappings: try catalog.mappings().filter { $0.localID == patientID },
                              patients: try catalog.patients(patientID: patientID))
            if json { try JSONOutput.print(shown) }
            guard !shown.registry.isEmpty else { throw CLIError("\(patientID) is not in the registry", status: 1) }
            if json { return }
            for p in shown.registry {
                print("Patient \(p.patientID)\(p.issuer.map { " (issuer \($0))" } ?? "")  \(p.personName.isEmpty ? "(no name)" : p.personName.dicomForm)  born \(p.birthDate ?? "?")  sex \(p.sex ?? "?")")
            }
            for m in shown.mappings {
                print("  reconciled from \(m.foreignID)\(m.foreignIssuer.map { " (\($0))" } ?? "")  \(m.how), \(m.operatorName), \(m.decidedAt)")
            }
            for p in shown.patients {
                print("  in the store: \(p.studyCount) stud\(p.studyCount == 1 ? "y" : "ies"), \(p.instanceCount) instance(s)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List the registry.",
            discussion: "With --json, an array with one object per entry."
        )

        @Option(name: .customLong("birth-date"), help: ArgumentHelp("Only entries born on this date (YYYYMMDD).", valueName: "date"))
        var birthDate: String?

        @Flag(help: "Print a JSON array.")
        var json = false

        @OptionGroup var store: StoreOptions

        func run() throws {
            let catalog = try store.open()
            defer { try? catalog.close() }
            let rows = try catalog.registry(birthDate: birthDate)
            if json { return try JSONOutput.print(rows) }
            print(TextTable.render(["PATIENT ID", "ISSUER", "NAME", "BIRTH", "SEX"], rows.map {
                [$0.patientID, $0.issuer ?? "", $0.personName.dicomForm, $0.birthDate ?? "", $0.sex ?? ""]
            }), terminator: "")
        }
    }
}
