import ArgumentParser
import Foundation
import Jobs
import Media
import Store

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write referral media from the store or another medium: a folder, ISO image or zip with a DICOMDIR, README.TXT and web pages, verified.",
        discussion: """
        One patient per medium: patients are told apart by Patient ID with its issuer (without an ID, by \
        name and sex), as the PATIENT records are; --allow-multi-patient puts several on one medium, each \
        listed in README.TXT and INDEX.HTM and given its own XDM subset. The output is verified (re-read, every instance's UID and SHA-256 compared) \
        before it gets its name; a disc label (SVG) is written beside it. Institution details come from \
        $DISCPORT_HOME/config.toml ([institution] name, department, address, contact) or the flags.
        --from PATH re-masters a folder, ISO, zip or drive (every DICOM instance the scan engine finds; \
        --patient/--study/--series filter it). --from NAME retrieves from a configured PACS node. A value \
        with a / is always a path; a bare name that is both a node and a file here is refused as ambiguous.
        Files are written as the profile needs them (implicit VR rewritten explicit, compressed files \
        decompressed for CD). Instances of private (non-standard) SOP classes are left out of the \
        general-purpose media, each named. A compressed file whose data set is implicit VR (meta JPEG, \
        content implicit) is read in the syntax its meta declares. Refused while planning, naming each \
        file: a file meta SOP Instance UID differing from the data set's; big endian (convert it first: \
        dcmconv +te FILE NEW); encapsulated pixel data with no compressed syntax declared, or native \
        pixel data under a compressed one; a value a DICOMDIR record would copy that its VR does not \
        allow (StudyDate 2024-01-01, Modality ct).
        An export larger than the medium (CD 700 MB, DVD 4.7 GB, DVD-DL 8.5 GB, BD 25 GB, or --capacity) \
        is refused before anything is written, unless --split: then OUT-1, OUT-2, … each a complete file-set.
        Exit status: 0 done and verified, 1 refused or failed (nothing written; a failed --burn keeps the \
        verified ISO and says where), 2 usage.
        """
    )

    @Option(name: .long, help: ArgumentHelp("Export every study of this patient.", valueName: "id"))
    var patient: String?
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Export these studies.", valueName: "uid"))
    var study: [String] = []
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Export these series.", valueName: "uid"))
    var series: [String] = []
    @Option(name: .long, help: "Output: dir (a folder ready to burn), iso (ISO 9660 level 1 + Joliet) or zip (PS3.12 Annex V).")
    var format: String = "iso"
    @Option(name: .long, help: ArgumentHelp("The folder, ISO or zip to create (must not exist).", valueName: "path"))
    var out: String
    @Option(name: .long, help: "Media profile: STD-GEN-CD, STD-GEN-DVD-JPEG, STD-GEN-DVD-J2K, STD-GEN-BD-JPEG, STD-GEN-BD-J2K, STD-GEN-USB-JPEG, STD-GEN-USB-J2K.")
    var profile: String?
    @Option(name: .long, help: "Medium (capacity and default profile): cd, dvd, dvd-dl, bd, usb, zip.")
    var media: String?
    @Option(name: .long, help: "Language of README.TXT, INDEX.HTM and the label: ja or en.")
    var lang: String = "ja"
    @Option(name: .long, help: ArgumentHelp("Templates replacing the built-in ones, by file name (README.ja.txt.mustache, …).", valueName: "dir"))
    var templates: String?
    @Option(name: .long, help: ArgumentHelp("A viewer copied to VIEWER/ (outside the DICOM tree, never autorun).", valueName: "dir"))
    var viewer: String?
    @Flag(name: .long, help: "DICOM only: no INDEX.HTM and IHE_PDI/ web pages.")
    var noWeb = false
    @Option(name: .long, help: "Creating institution (overrides config.toml).")
    var institution: String?
    @Option(name: .long, help: "Contact of the creating institution (overrides config.toml).")
    var contact: String?
    @Option(name: .long, help: ArgumentHelp("File-set ID and ISO volume ID (≤ 16 of A–Z 0–9 _).", valueName: "id"))
    var fileSetID: String?
    @Flag(name: .long, help: "Allow several patients on one medium (warned; each gets its PATIENT record, its lines in README.TXT and INDEX.HTM and its XDM subset).")
    var allowMultiPatient = false
    @Flag(name: .long, help: "Make up missing Type 1 DICOMDIR keys (recorded in the output and the audit log).")
    var invent = false
    @Flag(name: .long, help: "Add IHE XDM metadata: IHE_XDM/SUBSET01/METADATA.XML (one subset per patient) with every DICOM file's size and SHA-1 (config.toml [institution] assigning_authority gives the patient ID's OID).")
    var xdm = false
    @Flag(name: .long, help: "Encrypt the zip with AES-256 (WinZip AE-2); the passphrase is asked twice on the terminal, or read from --passphrase-file.")
    var encrypt = false
    @Option(name: .long, help: ArgumentHelp("With --encrypt: the passphrase is the first line of this file.", valueName: "file"))
    var passphraseFile: String?
    @Option(name: .long, help: ArgumentHelp("A folder, ISO, zip or drive to re-master (all its DICOM instances, or the selection); or a PACS node to retrieve the patient (--patient) or the studies (--study) from into the store first (C-GET; WADO-RS for a DICOMweb node).", valueName: "path|node"))
    var from: String?
    @Option(name: .long, help: ArgumentHelp("Bytes one medium holds, overriding --media (decimal suffixes: 700M, 4.7G).", valueName: "bytes"))
    var capacity: String?
    @Flag(name: .long, help: "Write several volumes (OUT-1, OUT-2, …, each a complete file-set) when the export exceeds one medium; studies stay whole when they fit.")
    var split = false
    @Option(name: .long, help: ArgumentHelp("Burn the verified ISO on this optical drive with xorriso (e.g. /dev/sr0).", valueName: "device"))
    var burn: String?

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false
    @OptionGroup var storeOptions: StoreOptions

    func validate() throws {
        let chosen = [patient != nil, !study.isEmpty, !series.isEmpty].filter { $0 }.count
        guard chosen <= 1 else { throw ValidationError("give one of --patient, --study, --series") }
        guard chosen == 1 || from != nil else { throw ValidationError("give one of --patient, --study, --series (or --from PATH to re-master a medium)") }
        if let capacity, ExportRequest.parseCapacity(capacity) == nil {
            throw ValidationError("--capacity \(capacity): a number of bytes, optionally with K, M, G or T (700M, 4.7G)")
        }
        if burn != nil && format != "iso" { throw ValidationError("--burn needs --format iso") }
        guard ExportRequest.Format(rawValue: format) != nil else { throw ValidationError("--format must be dir, iso or zip") }
        if let profile, MediaProfile.named(profile) == nil {
            throw ValidationError("unknown profile \(profile); one of \(MediaProfile.all.map(\.name).joined(separator: ", "))")
        }
        if let media, MediaKind(rawValue: media) == nil { throw ValidationError("--media must be cd, dvd, dvd-dl, bd, usb or zip") }
        guard ["ja", "en"].contains(lang) else { throw ValidationError("--lang must be ja or en") }
        if encrypt, format != "zip" { throw ValidationError("--encrypt needs --format zip: a folder or an ISO image cannot be encrypted") }
        if passphraseFile != nil, !encrypt { throw ValidationError("--passphrase-file goes with --encrypt") }
        if xdm, noWeb { throw ValidationError("--xdm needs INDEX.HTM (IHE XDM media carry one at the root): leave out --no-web") }
    }

    func run() throws {
        // Asked first, before anything is retrieved or written.
        let passphrase = encrypt ? try Terminal.passphrase(file: passphraseFile, confirm: true) : nil
        var origin: ExportOrigin?
        if let from {
            let existing = try storeOptions.openExisting()
            do {
                origin = try ExportOrigin.resolve(from, store: existing)
            } catch let error as ExportError {
                throw CLIError(error.message, status: 2)
            }
            try? existing?.close()
        }
        if case .node(let from) = origin {
            // The same retrieval as `discport get`, study by study.
            guard series.isEmpty, patient != nil || !study.isEmpty else {
                throw CLIError("--from NODE retrieves a --patient or --study selection", status: 2)
            }
            let selections: [RetrieveRequest.Selection] = patient.map { [.patient($0)] } ?? study.map { .study($0) }
            let catalog = try storeOptions.open()
            let peer = try NetworkOptions.peer(from, in: catalog)
            for selection in selections {
                let summary = try GetCommand.retrieve(RetrieveRequest(selection), from: peer, into: catalog)
                GetCommand.report(summary, node: from)
                if !summary.result.isSuccess { throw ExitCode(1) }
            }
            try catalog.close()
        }
        var sourceMedium: String?
        if case .medium(let path) = origin { sourceMedium = path }
        // Re-mastering needs no store but its audit log (made when missing).
        guard let store = try sourceMedium != nil ? storeOptions.open() : storeOptions.openExisting() else {
            throw CLIError("no store at \(storeOptions.resolvedHome): import something first")
        }
        var info: InstitutionInfo
        do {
            info = try InstitutionInfo.load(configFile: storeOptions.resolvedHome + "/config.toml")
        } catch {
            throw CLIError("\(error)")
        }
        if let institution { info.name = institution }
        if let contact { info.contact = contact }
        let selection: ExportRequest.Selection = patient.map { .patient($0) }
            ?? (!study.isEmpty ? .studies(study) : !series.isEmpty ? .series(series) : .all)
        let request = ExportRequest(
            selection: selection, format: ExportRequest.Format(rawValue: format)!, output: out,
            profile: profile.flatMap(MediaProfile.named), media: media.flatMap(MediaKind.init(rawValue:)),
            language: lang, templatesDirectory: templates, viewerDirectory: viewer, webContent: !noWeb,
            allowMultiPatient: allowMultiPatient, invent: invent, institution: info, fileSetID: fileSetID,
            xdm: xdm, passphrase: passphrase,
            medium: sourceMedium, capacity: capacity.flatMap(ExportRequest.parseCapacity), split: split, burnDevice: burn)
        let quiet = json
        let summary: ExportSummary
        do {
            summary = try ExportJob(store: store, request: request).run { event in
                switch event {
                case .warning(let text): Terminal.error("warning: \(text)")
                case .selected(let patients, let studies, let series, let instances, let bytes) where !quiet:
                    print("Selected \(patients) patient(s), \(studies) stud\(studies == 1 ? "y" : "ies"), \(series) series, \(instances) instances (\(Terminal.size(bytes)))")
                case .writing(let files) where !quiet: print("Writing the file-set (\(files) files, \(request.resolvedProfile.name))")
                case .packing(let what) where !quiet: print("Packing the \(what)")
                case .verifying where !quiet: print("Verifying what was written")
                case .scanning(let path) where !quiet: print("Scanning \(path)")
                case .volumes(let count, let capacity) where !quiet:
                    print("Split into \(count) volumes of at most \(VolumePlanError.size(capacity)) each")
                case .volume(let number, let count, let instances) where !quiet: print("Volume \(number) of \(count): \(instances) instances")
                case .burning(let device, let path) where !quiet: print("Burning \(path) on \(device)")
                default: break
                }
            }
        } catch let error as ExportError {
            throw CLIError(error.message)
        } catch let error as FileSetError {
            throw CLIError(error.description)
        }
        try? store.close()
        if json {
            try JSONOutput.print(summary)
            return
        }
        for volume in summary.volumes {
            print("Done: \(volume.output) (\(summary.format), \(summary.profile), volume \(volume.fileSetID), \(volume.instances) instances, \(Terminal.size(volume.outputBytes)))")
        }
        if !summary.leftOff.isEmpty { print("  \(summary.leftOff.count) file(s) of \(summary.sourceMedium ?? "the selection") not written (listed above)") }
        if let device = summary.burntOn { print("  burnt on \(device)") }
        print("  \(summary.instances) instances verified (UID and SHA-256); \(summary.rewritten.count) rewritten as Explicit VR Little Endian or given a Part 10 header")
        if !summary.inventions.isEmpty { print("  \(summary.inventions.count) DICOMDIR key(s) invented (--invent)") }
        if let documents = summary.xdmDocuments { print("  IHE XDM: \(documents) document entries in IHE_XDM/SUBSETnn/METADATA.XML (one submission set per patient)") }
        if summary.encrypted { print("  encrypted with AES-256: the receiver needs the passphrase (send it another way)") }
        print("  label\(summary.volumes.count > 1 ? "s" : ""): \(summary.volumes.map(\.label).joined(separator: ", "))")
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a medium (folder, ISO, zip, drive) against PS3.10/3.11/3.12 and IHE PDI.",
        discussion: """
        File IDs, the DICOMDIR against the files, keys per record, transfer syntaxes of the profile \
        (--profile, else the narrowest general-purpose profile allowing the syntaxes found), README.TXT, \
        forbidden root content (AUTORUN.INF), nothing else in the DICOM folders, no scripts in INDEX.HTM, \
        pixel data as the transfer syntax says (encapsulated under a native syntax is an error), \
        IHE XDM metadata (each DocumentEntry's file with its size and SHA-1). An encrypted zip needs \
        --passphrase-file or --ask-passphrase.
        Exit status: 0 conformant (warnings allowed), 1 errors found, 2 usage.
        """
    )

    @Argument(help: ArgumentHelp("The medium: folder, ISO image, zip or device.", valueName: "medium"))
    var medium: String
    @Option(name: .long, help: "The profile the medium declares (STD-GEN-CD, STD-GEN-DVD-JPEG, …).")
    var profile: String?
    @Option(name: .long, help: ArgumentHelp("The passphrase of an encrypted zip is the first line of this file.", valueName: "file"))
    var passphraseFile: String?
    @Flag(name: .long, help: "Ask the passphrase of an encrypted zip on the terminal.")
    var askPassphrase = false
    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if let profile, MediaProfile.named(profile) == nil {
            throw ValidationError("unknown profile \(profile); one of \(MediaProfile.all.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        let passphrase = passphraseFile != nil || askPassphrase ? try Terminal.passphrase(file: passphraseFile, confirm: false) : nil
        let (report, _, _) = MediumVerifier(profile: profile.flatMap(MediaProfile.named), passphrase: passphrase).verify(path: medium)
        if json {
            try JSONOutput.print(report)
        } else {
            print("\(report.medium): \(report.instances) instances, \(report.records) DICOMDIR records, file-set \(report.fileSetID ?? "-"), checked as \(report.profile ?? "-") (\(report.profileSource))")
            for problem in report.problems where problem.severity != .info {
                print("  \(problem.severity.rawValue.uppercased()) \(problem.code)\(problem.path.map { " [\($0)]" } ?? ""): \(problem.message)")
            }
            print(report.passed ? "PASS (\(report.warnings) warning(s))" : "FAIL: \(report.errors) error(s), \(report.warnings) warning(s)")
        }
        if !report.passed { throw ExitCode(1) }
    }
}
