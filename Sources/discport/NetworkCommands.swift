import ArgumentParser
import DICOM
import Foundation
import Jobs
import Network
import NIOCore
import Store
import Synchronization

/// `--calling-ae` and timeouts, shared by the commands that associate.
struct NetworkOptions: ParsableArguments {
    @Option(name: .customLong("calling-ae"), help: ArgumentHelp(
        "discport's AE title towards the node (default: the node's, else DISCPORT).", valueName: "ae"))
    var callingAE: String?

    @Option(help: ArgumentHelp("Seconds to wait for a connection, an association answer (ARTIM) or a response.", valueName: "s"))
    var timeout: Int = 30

    func validate() throws {
        if let callingAE, let problem = AETitle.problem(callingAE) { throw ValidationError("--calling-ae: \(problem)") }
        guard timeout >= 1 else { throw ValidationError("--timeout: at least 1 second") }
    }

    /// The node named `name` with these options (a CLI error, status 2,
    /// when it is unknown or misconfigured).
    func peer(_ name: String, in store: InstanceStore) throws -> RemotePeer {
        try Self.peer(name, in: store, callingAE: callingAE, timeout: timeout)
    }

    /// The same for a command without these options.
    static func peer(_ name: String, in store: InstanceStore, callingAE: String? = nil, timeout: Int = 30) throws -> RemotePeer {
        do {
            return try RemotePeer.named(name, in: store, callingAE: callingAE, timeout: timeout)
        } catch let error as RemoteNodeError {
            throw CLIError(error.description, status: 2)
        }
    }
}

/// `discport nodes add|ls|rm`.
struct NodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Configure the DICOM nodes (PACS) discport sends to and queries, by name.",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add a node, or change the one with that name.")

        @Argument(help: "The name commands use (`pacs`).")
        var name: String
        @Option(help: ArgumentHelp("The node's AE title (called AE).", valueName: "ae"))
        var ae: String?
        @Option(help: "Host name or address.")
        var host: String?
        @Option(help: "DICOM port.")
        var port: Int?
        @Option(name: .customLong("calling-ae"), help: ArgumentHelp("discport's AE title towards this node (default DISCPORT).", valueName: "ae"))
        var callingAE: String?
        @Option(help: ArgumentHelp("A DICOMweb node instead: the service's base URL (http://pacs:8042/dicom-web).", valueName: "url"))
        var url: String?
        @Option(help: ArgumentHelp("DICOMweb authentication: basic:ENV ($ENV holds user:password) or bearer:ENV ($ENV holds the token).", valueName: "kind:env"))
        var auth: String?
        @OptionGroup var store: StoreOptions

        func validate() throws {
            if let url {
                guard ae == nil, host == nil, port == nil else { throw ValidationError("--url replaces --ae, --host and --port") }
                guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
                    throw ValidationError("--url: an http(s) URL")
                }
                if let auth, !(auth.hasPrefix("basic:") || auth.hasPrefix("bearer:")) || auth.split(separator: ":").count != 2 {
                    throw ValidationError("--auth: basic:ENV or bearer:ENV")
                }
                return
            }
            guard let ae, host != nil, let port else { throw ValidationError("give --ae, --host and --port (or --url)") }
            for (label, title) in [("--ae", ae), ("--calling-ae", callingAE ?? "DISCPORT")] {
                if let problem = AETitle.problem(title) { throw ValidationError("\(label): \(problem)") }
            }
            guard (1...65535).contains(port) else { throw ValidationError("--port: 1–65535") }
        }

        func run() throws {
            let catalog = try store.open()
            defer { try? catalog.close() }
            let node = RemoteNodeRecord(name: name, aeTitle: ae ?? "", host: host ?? "", port: port ?? 0, callingAE: callingAE,
                                        url: url, auth: auth)
            let new = try catalog.saveRemoteNode(node)
            print("\(new ? "added" : "updated") \(name): \(url ?? "\(ae!)@\(host!):\(port!)")")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the nodes.")
        @Flag(help: "Print a JSON array.")
        var json = false
        @OptionGroup var store: StoreOptions

        func run() throws {
            let catalog = try store.open()
            defer { try? catalog.close() }
            let nodes = try catalog.remoteNodes()
            if json { Terminal.writeOut(try JSONOutput.data(nodes) + Data([0x0A])); return }
            print(TextTable.render(["NAME", "AE", "HOST", "PORT", "CALLING AE", "URL"], nodes.map {
                [$0.name, $0.aeTitle, $0.host, $0.isDICOMweb ? "" : String($0.port), $0.callingAE ?? "", $0.url ?? ""]
            }), terminator: "")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a node (its send queue stays).")
        @Argument var name: String
        @OptionGroup var store: StoreOptions

        func run() throws {
            let catalog = try store.open()
            defer { try? catalog.close() }
            guard try catalog.removeRemoteNode(named: name) else { throw CLIError("no node named \(name)") }
            print("removed \(name)")
        }
    }
}

/// `discport echo NODE`.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Check a node with C-ECHO (verification).",
        discussion: "Exit status: 0 the node answered success; 1 it answered another status, rejected or aborted the association, or could not be reached; 2 usage error or unknown node."
    )

    @Argument(help: "A node name (`discport nodes ls`).")
    var node: String
    @Flag(help: "Print a JSON object.")
    var json = false
    @OptionGroup var network: NetworkOptions
    @OptionGroup var store: StoreOptions

    func run() throws {
        let catalog = try store.open()
        let peer = try network.peer(node, in: catalog)
        try? catalog.close()
        let target = peer.node
        let output = peer.echo()
        if json {
            Terminal.writeOut(try JSONOutput.data(output) + Data([0x0A]))
        } else if output.ok, let url = target.url {
            print(String(format: "%@ (%@): QIDO-RS answered %@ in %.0f ms", node, url, output.status ?? "", (output.seconds ?? 0) * 1000))
        } else if output.ok {
            print(String(format: "%@ (%@@%@:%d): C-ECHO success in %.0f ms (%@ %@)", node, target.aeTitle, target.host, target.port,
                         (output.seconds ?? 0) * 1000, output.implementationVersionName ?? "", output.implementationClassUID ?? ""))
        } else {
            Terminal.error("\(node) (\(peer.address)): \(output.error ?? "C-ECHO status \(output.status ?? "?")")")
        }
        if !output.ok { throw ExitCode(1) }
    }
}

/// `discport send TARGET… --to NODE`.
struct SendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send instances to a node with C-STORE: store contents or files and folders on disk.",
        discussion: """
        Each TARGET is a file or folder (sent straight from disk, walked recursively; \
        files that are not DICOM are skipped) or a Patient ID, Study, Series or SOP \
        Instance UID of the store. Files are streamed as stored when the node accepts \
        their transfer syntax; an uncompressed one it does not accept is converted to \
        explicit or implicit VR little endian; compressed data is never decompressed \
        (reported instead). Every instance goes through the retry queue of the catalog: \
        what the node acknowledged is never sent again, what failed or was interrupted \
        is sent by the next `send` to the node (`send --to NODE` alone resumes).

        Output: one line per failure and a summary; --json: one JSON object per line \
        (`instance` events, then `finish`).

        Exit status: 0 every instance acknowledged; 1 any failed (they stay queued); \
        2 usage error or unknown node/target; 3 the store cannot be opened.
        """
    )

    @Argument(help: "Files, folders, Patient IDs or UIDs; none: resume the node's queue.")
    var targets: [String] = []
    @Option(help: ArgumentHelp("The node (`discport nodes ls`).", valueName: "node"))
    var to: String
    @Option(help: "Associations at once.")
    var parallel: Int = 1
    @Flag(help: "One JSON object per line.")
    var json = false
    @OptionGroup var network: NetworkOptions
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (1...16).contains(parallel) else { throw ValidationError("--parallel: 1–16") }
    }

    func run() throws {
        let catalog = try store.open()
        defer { try? catalog.close() }
        let job = SendJob(store: catalog, peer: try network.peer(to, in: catalog))
        let json = self.json
        let summary: SendSummary
        do {
            summary = try job.run(targets: targets, parallel: parallel) { event in
                if json {
                    if let line = try? JSONOutput.data(["event": "instance"].merging(event), pretty: false) {
                        Terminal.writeOut(line + Data([0x0A]))
                    }
                } else if event.outcome == .failed {
                    Terminal.error("\(event.path): \(event.message ?? "failed")")
                }
            }
        } catch let error as SendJobError {
            throw CLIError(error.description, status: 2)
        }
        if json {
            let line = try JSONOutput.data(["event": "finish"].merging(summary), pretty: false)
            Terminal.writeOut(line + Data([0x0A]))
        } else {
            var text = "\(to): \(summary.sent) sent (\(Terminal.size(summary.bytes)) in \(String(format: "%.1f", summary.seconds)) s)"
            if summary.resumed > 0 { text += ", \(summary.resumed) of them resumed from an earlier send" }
            if summary.converted > 0 { text += ", \(summary.converted) of them converted losslessly (the node refused their transfer syntax)" }
            if summary.alreadySent > 0 { text += ", \(summary.alreadySent) already sent" }
            if summary.failed > 0 { text += ", \(summary.failed) failed" }
            if summary.skipped > 0 { text += ", \(summary.skipped) skipped (not DICOM, or the same instance twice)" }
            if summary.pending > 0 { text += "; \(summary.pending) pending in the retry queue (run send again)" }
            print(text)
        }
        if !summary.complete { throw ExitCode(1) }
    }
}

extension QueryRequest.Level: ExpressibleByArgument {}

/// An event object with a leading `event` key.
private struct Tagged<T: Encodable>: Encodable {
    var event: String
    var body: T
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(event, forKey: Key("event"))
        try body.encode(to: encoder)
    }
    struct Key: CodingKey {
        var stringValue: String
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}

private extension Dictionary where Key == String, Value == String {
    func merging<T: Encodable>(_ body: T) -> some Encodable {
        Tagged(event: self["event"] ?? "", body: body)
    }
}

/// `discport listen --ae AE --port P`.
struct ListenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Receive instances with C-STORE (and answer C-ECHO), importing them into the store.",
        discussion: """
        A storage SCP: accepts associations called --ae (others are rejected, as are \
        calling AE titles not given with --allow when it is used), every storage SOP \
        class in the transfer syntax the sender proposes first, and Verification. Each \
        received instance is stored as an import from the network would be: a Part 10 \
        header is added, the data set kept byte for byte; duplicates are skipped and \
        conflicts kept aside. One import run covers the whole session. Runs until \
        interrupted (Ctrl-C or SIGTERM). Log: one line per association and instance on \
        standard error; --json: one JSON object per line on standard output.
        """
    )

    @Option(help: ArgumentHelp("discport's AE title (the called AE it answers to).", valueName: "ae"))
    var ae: String
    @Option(help: "Port to listen on (0: any free port, printed).")
    var port: Int
    @Option(help: ArgumentHelp("Address to bind.", valueName: "address"))
    var bind: String = "0.0.0.0"
    @Option(help: ArgumentHelp("A calling AE title allowed to associate; repeatable (default: any).", valueName: "ae"))
    var allow: [String] = []
    @Flag(help: "One JSON object per line on standard output.")
    var json = false
    @OptionGroup var store: StoreOptions

    func validate() throws {
        for (label, title) in [("--ae", ae)] + allow.map({ ("--allow", $0) }) {
            if let problem = AETitle.problem(title) { throw ValidationError("\(label): \(problem)") }
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port: 0–65535") }
    }

    func run() throws {
        let catalog = try store.open()
        let configuration = DICOMServer.Configuration(aeTitle: ae, host: bind, port: port,
                                                      allowedCallingAEs: allow.isEmpty ? nil : Set(allow))
        let job = ListenJob(store: catalog, configuration: configuration)
        let json = self.json
        let events: @Sendable (ServerEvent) -> Void = { event in ListenCommand.log(event, json: json) }
        let (server, importID) = try runBlocking { try await job.start(events: events) }
        let bound = server.port ?? port
        if json {
            ListenCommand.emit(["event": "listening", "ae": ae, "port": String(bound)])
        } else {
            Terminal.error("listening as \(ae) on \(bind):\(bound)")
        }
        // Ctrl-C / SIGTERM: stop accepting, close the import run, exit 0.
        let stop = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        stop.wait()
        try runBlocking { try await job.finish(server, importID: importID) }
        try catalog.close()
        _ = sources
    }

    static func emit(_ fields: [String: String]) {
        if let data = try? JSONOutput.data(fields, pretty: false) {
            Terminal.writeOut(data + Data([0x0A]))
        }
    }

    static func log(_ event: ServerEvent, json: Bool) {
        var fields: [String: String]
        switch event {
        case .associationAccepted(let calling, let peer, let contexts):
            fields = ["event": "associated", "calling_ae": calling, "peer": peer, "contexts": String(contexts)]
        case .associationRejected(let calling, let peer, let reason):
            fields = ["event": "rejected", "calling_ae": calling, "peer": peer, "reason": reason]
        case .echo(let calling):
            fields = ["event": "echo", "calling_ae": calling]
        case .stored(let instance, let status, let message):
            fields = ["event": "instance", "calling_ae": instance.callingAE, "sop_instance_uid": instance.sopInstanceUID,
                      "transfer_syntax_uid": instance.transferSyntax.uid, "status": status.hex, "size": String(instance.size)]
            if let message { fields["message"] = message }
        case .released(let calling, let count):
            fields = ["event": "released", "calling_ae": calling, "instances": String(count)]
        case .aborted(let calling, let reason):
            fields = ["event": "aborted", "calling_ae": calling, "reason": reason]
        }
        if json {
            emit(fields)
        } else {
            let event = fields.removeValue(forKey: "event") ?? ""
            Terminal.error(event + " " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }
}

/// `discport find NODE --level patient|study|series [keys]`.
struct FindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Query a node with C-FIND (patient root or study root).",
        discussion: """
        Matching keys: --patient-id, --name (PN, `*` and `?` wildcards, Japanese as \
        `Yamada^Taro=山田^太郎=やまだ^たろう`), --birth-date, --study (Study Instance \
        UID), --accession, --modality, --date (YYYYMMDD or a range \
        YYYYMMDD-YYYYMMDD), and any --key KEYWORD=VALUE. Non-ASCII keys are sent in \
        --charset (ISO_IR 192, or ISO 2022 IR 87 for JIS X 0208 with escape \
        sequences) declared in the identifier's Specific Character Set; answers are \
        decoded with theirs.

        Exit status: 0 the query completed (even with no match); 1 the node failed it \
        or could not be reached; 2 usage error or unknown node.
        """
    )

    typealias Level = QueryRequest.Level
    enum Model: String, ExpressibleByArgument, CaseIterable {
        case patientRoot = "patient-root", studyRoot = "study-root"
    }
    enum Charset: String, ExpressibleByArgument, CaseIterable {
        case utf8 = "ISO_IR 192", jis = "ISO 2022 IR 87"
    }

    @Argument(help: "A node name.")
    var node: String
    @Option(help: "patient, study, series, or worklist (Modality Worklist: --date is the scheduled date, --modality the step's; --key ScheduledStationAETitle=AE).")
    var level: Level
    @Option(help: "patient-root (default for --level patient) or study-root (default otherwise).")
    var model: Model?
    @Option(name: .customLong("patient-id")) var patientID: String?
    @Option var name: String?
    @Option(name: .customLong("birth-date")) var birthDate: String?
    @Option(help: "Study Instance UID.") var study: String?
    @Option var accession: String?
    @Option var modality: String?
    @Option(help: "Study date or range.") var date: String?
    @Option(help: ArgumentHelp("Any other key, KEYWORD=VALUE (empty value: return it); repeatable.", valueName: "keyword=value"))
    var key: [String] = []
    @Option(help: "Character set of the identifier.")
    var charset: Charset = .utf8
    @Option(help: "Stop after this many matches (C-CANCEL).")
    var limit: Int?
    @Flag(help: "Print a JSON array of DICOM JSON objects.")
    var json = false
    @OptionGroup var network: NetworkOptions
    @OptionGroup var store: StoreOptions

    func keys() throws -> [(tag: Tag, value: String)] {
        var keys: [(tag: Tag, value: String)] = []
        if let patientID { keys.append((.patientID, patientID)) }
        if let name { keys.append((.patientName, name)) }
        if let birthDate { keys.append((.patientBirthDate, birthDate)) }
        if let study { keys.append((.studyInstanceUID, study)) }
        if let accession { keys.append((.accessionNumber, accession)) }
        if let modality { keys.append((level == .study ? Tag(0x0008, 0x0061) : .modality, modality)) }
        if let date { keys.append((level == .worklist ? .scheduledProcedureStepStartDate : .studyDate, date)) }
        for pair in key {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let tag = DataDictionary.tag(forKeyword: String(parts[0])) else {
                throw ValidationError("--key \(pair): unknown keyword \(parts[0])")
            }
            keys.append((tag, parts.count > 1 ? String(parts[1]) : ""))
        }
        return keys
    }

    func run() throws {
        let catalog = try store.open()
        let peer = try network.peer(node, in: catalog)
        try? catalog.close()
        let request = QueryRequest(level: level,
                                   model: model.map { $0 == .patientRoot ? .patientRoot : .studyRoot }, keys: try keys(),
                                   characterSet: charset == .utf8 ? ["ISO_IR 192"] : ["", "ISO 2022 IR 87"], limit: limit)
        let answers: QueryAnswers
        do {
            answers = try QueryJob(peer: peer).run(request)
        } catch let error as QueryError {
            throw CLIError(error.description, status: 2)
        } catch {
            throw CLIError("\(node): \(error)", status: 1)
        }
        let results: [Dataset]
        switch answers {
        case .json(let data): return try printQIDO(data)
        case .datasets(let rows): results = rows
        }
        if json {
            let objects = results.map { DICOMJSON.encode($0) }
            Terminal.writeOut(Data(("[" + objects.joined(separator: ",") + "]\n").utf8))
            return
        }
        let columns: [(String, Tag)]
        switch level {
        case .patient:
            columns = [("PATIENT ID", .patientID), ("NAME", .patientName), ("BIRTH", .patientBirthDate), ("SEX", .patientSex),
                       ("STUDIES", Tag(0x0020, 0x1200))]
        case .study:
            columns = [("STUDY INSTANCE UID", .studyInstanceUID), ("PATIENT ID", .patientID), ("NAME", .patientName),
                       ("DATE", .studyDate), ("MODALITIES", Tag(0x0008, 0x0061)), ("ACCESSION", .accessionNumber),
                       ("DESCRIPTION", .studyDescription)]
        case .series:
            columns = [("SERIES INSTANCE UID", .seriesInstanceUID), ("MODALITY", .modality), ("NUMBER", .seriesNumber),
                       ("INSTANCES", Tag(0x0020, 0x1209)), ("DESCRIPTION", .seriesDescription)]
        case .worklist:
            columns = [("PATIENT ID", .patientID), ("NAME", .patientName), ("BIRTH", .patientBirthDate), ("SEX", .patientSex),
                       ("ACCESSION", .accessionNumber), ("PROCEDURE", .requestedProcedureDescription)]
            // The scheduled step's date, modality and station, from its item.
            print(TextTable.render(columns.map(\.0) + ["DATE", "MODALITY", "STATION"], results.map { ds in
                let step = ds.items(.scheduledProcedureStepSequence).first ?? Dataset()
                return columns.map { ds.string($0.1).map { DICOMText.trim($0, vr: .LO) } ?? "" }
                    + [step.firstString(.scheduledProcedureStepStartDate) ?? "", step.firstString(.modality) ?? "",
                       step.firstString(.scheduledStationAETitle) ?? ""]
            }), terminator: "")
            return
        }
        print(TextTable.render(columns.map(\.0), results.map { ds in
            columns.map { ds.string($0.1).map { DICOMText.trim($0, vr: .LO) } ?? "" }
        }), terminator: "")
    }

    /// QIDO-RS answers (DICOMweb node), printed as they came.
    private func printQIDO(_ data: Data) throws {
        let rows = (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
        func text(_ row: [String: Any], _ tag: String) -> String {
            guard let value = (row[tag] as? [String: Any])?["Value"] as? [Any], let first = value.first else { return "" }
            if let name = first as? [String: Any] {
                return ["Alphabetic", "Ideographic", "Phonetic"].map { name[$0] as? String ?? "" }
                    .reversed().drop(while: \.isEmpty).reversed().joined(separator: "=")
            }
            if let number = first as? NSNumber { return number.stringValue }
            return value.map { "\($0)" }.joined(separator: "\\")
        }
        if json {
            Terminal.writeOut(data + Data([0x0A]))
            return
        }
        let columns: [(String, String)]
        switch level {
        case .patient: columns = [("PATIENT ID", "00100020"), ("NAME", "00100010"), ("BIRTH", "00100030"), ("SEX", "00100040")]
        case .study: columns = [("STUDY INSTANCE UID", "0020000D"), ("PATIENT ID", "00100020"), ("NAME", "00100010"),
                                ("DATE", "00080020"), ("MODALITIES", "00080061"), ("ACCESSION", "00080050"), ("DESCRIPTION", "00081030")]
        default: columns = [("SERIES INSTANCE UID", "0020000E"), ("MODALITY", "00080060"), ("NUMBER", "00200011"),
                            ("INSTANCES", "00201209"), ("DESCRIPTION", "0008103E")]
        }
        print(TextTable.render(columns.map(\.0), rows.map { row in columns.map { text(row, $0.1) } }), terminator: "")
    }
}
