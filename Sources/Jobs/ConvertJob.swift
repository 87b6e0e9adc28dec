import Convert
import DICOM
import Foundation
import Reconcile
import Store

/// What one input file became (one line of `discport convert --json`).
public struct ConvertEvent: Sendable, Codable {
    public struct Output: Sendable, Codable {
        /// The file written (folder output) or the stored file (`--import`).
        public var path: String?
        public var sopInstanceUID: String
        public var sopClassUID: String
        public var transferSyntaxUID: String
        public var frames: Int
        public var method: String
        public var notes: [String]
        /// `stored`, `duplicate`, … for `--import`; nil for a folder.
        public var storeOutcome: String?
    }
    public var source: String
    public var format: String?
    public var ok: Bool
    public var outputs: [Output]
    /// Why the file was not converted.
    public var error: String?
}

/// The end of a run.
public struct ConvertSummary: Sendable, Codable {
    public var inputs: Int
    public var converted: Int
    public var failed: Int
    public var instances: Int
    public var studyInstanceUID: String
    public var patientID: String
    /// The import run of `--import`.
    public var importID: Int64?
    public var seconds: Double
    public var exitStatus: Int32 { failed == 0 ? 0 : 1 }
}

/// `discport convert`: loose JPEG/PNG/TIFF/BMP/PDF files into DICOM objects
/// of one patient and study, written into a folder or straight into the
/// store (as an import run whose source is the list of files).
public final class ConvertJob {
    public enum Destination {
        case folder(String)
        case store(InstanceStore)
    }

    public let session: ConversionSession
    public let destination: Destination
    /// Folder paths handed out by this job (files not written yet included).
    private var reserved: Set<String> = []

    public init(session: ConversionSession, destination: Destination) {
        self.session = session
        self.destination = destination
    }

    /// The patient and study attributes of a study already in the store
    /// (`--study UID`): the new series are filed beside the study's own,
    /// numbered after them. Throws when the store does not know the study.
    public static func studyContext(_ studyInstanceUID: String, store: InstanceStore) throws -> (LocalIdentity, StudyContext) {
        let found = try store.lookup(studyInstanceUID)
        guard let study = found.studies.first else {
            throw ConvertError(.invalidOption, "study \(studyInstanceUID) is not in the store at \(store.home)")
        }
        let patient = try store.patients(patientID: study.patientID).first
        let highest = try store.series(studyInstanceUID: study.studyInstanceUID).compactMap(\.seriesNumber).max() ?? 0
        let identity = LocalIdentity(patientID: study.patientID, issuerOfPatientID: patient?.issuerOfPatientID, patientName: study.patientName ?? patient?.patientName,
                                       birthDate: patient?.birthDate, sex: patient?.sex)
        let context = StudyContext(studyInstanceUID: study.studyInstanceUID, studyDate: study.studyDate, studyTime: study.studyTime,
                                   studyDescription: study.studyDescription, accessionNumber: study.accessionNumber,
                                   studyID: study.studyID, firstSeriesNumber: highest + 1)
        return (identity, context)
    }

    /// The local patient with this ID: the registry's entry when the
    /// registry has it, else the catalog's patient when there is exactly
    /// one (name, birth date, sex fill what the options leave out).
    public static func knownPatient(_ patientID: String, store: InstanceStore) throws -> LocalIdentity? {
        let (identity, registered) = try PatientResolver(store: store).localIdentity(patientID: patientID, issuer: nil)
        if registered != nil { return identity }
        let records = try store.patients(patientID: patientID)
        guard records.count == 1, let record = records.first else { return nil }
        return LocalIdentity(patientID: record.patientID, issuerOfPatientID: record.issuerOfPatientID, patientName: record.patientName,
                             birthDate: record.birthDate, sex: record.sex)
    }

    /// Converts every input in order; a file that cannot be converted is
    /// reported and the others go on. Throws only when the store cannot
    /// be used at all.
    public func run(_ inputs: [String], events: (ConvertEvent) -> Void = { _ in }) throws -> ConvertSummary {
        let clock = ContinuousClock.now
        var importID: Int64?
        if case .store(let store) = destination {
            importID = try store.beginImport(ImportSource(location: inputs.count == 1 ? inputs[0] : "convert of \(inputs.count) files",
                                                          kind: "convert", label: nil, volumeID: nil))
        }
        var summary = ConvertSummary(inputs: inputs.count, converted: 0, failed: 0, instances: 0,
                                     studyInstanceUID: session.studyInstanceUID,
                                     patientID: session.options.patient.patientID, importID: importID, seconds: 0)
        // Files are converted in order (numbering is sequential). A folder
        // output writes a batch of them at once (one file system flush for
        // all), in the background while the next batch is converted: both
        // cores busy. Events are reported in input order.
        var batch: [(event: ConvertEvent, instances: [ConvertedInstance])] = []
        var pending: PendingWrite?
        func report(_ batch: [(event: ConvertEvent, instances: [ConvertedInstance])], _ written: [Result<ConvertEvent.Output, any Error>]) {
            var next = 0
            for (event, instances) in batch {
                var event = event
                let results = written[next..<(next + instances.count)]
                next += instances.count
                if event.error != nil {
                    // Not converted: reported as it is.
                } else if let failure = results.first(where: { if case .failure = $0 { return true } else { return false } }),
                          case .failure(let error) = failure {
                    event.error = "\(event.source): \(error)"
                } else {
                    event.outputs = results.compactMap { try? $0.get() }
                    event.ok = true
                    summary.converted += 1
                    summary.instances += instances.count
                }
                if !event.ok { summary.failed += 1 }
                events(event)
            }
        }
        func finishPending() {
            guard let previous = pending else { return }
            previous.done.wait()
            report(previous.batch, previous.results)
            pending = nil
        }
        func flush() {
            let current = batch
            batch.removeAll()
            switch destination {
            case .folder(let folder):
                let instances = current.flatMap(\.instances)
                let paths = reservePaths(instances, folder: folder)
                finishPending()
                let write = PendingWrite(batch: current)
                write.done.enter()
                DispatchQueue.global().async {
                    write.results = ConvertJob.writeFolder(instances, paths: paths)
                    write.done.leave()
                }
                pending = write
            case .store(let store):
                report(current, writeToStore(current.flatMap(\.instances), store: store, importID: importID))
            }
        }
        for input in inputs {
            var event = ConvertEvent(source: input, format: nil, ok: false, outputs: [], error: nil)
            do {
                let instances = try session.convert(input)
                event.format = instances.first?.sourceFormat.rawValue
                batch.append((event, instances))
            } catch {
                event.error = error.description
                batch.append((event, []))
            }
            if batch.count >= ConvertJob.batchSize { flush() }
        }
        flush()
        finishPending()
        if case .store(let store) = destination, let importID {
            try store.finishImport(importID, status: summary.failed == 0 ? .completed : .failed, failed: 0,
                                   note: summary.failed == 0 ? nil : "\(summary.failed) file(s) not converted")
        }
        let elapsed = ContinuousClock.now - clock
        summary.seconds = elapsed / .seconds(1)
        return summary
    }

    /// Files converted before their writes are awaited together (and made
    /// durable by one file system flush before they get their names).
    static let batchSize = 64

    /// Folder paths for the instances, chosen in order: the suggested
    /// name, or with `_2`, `_3`, … where a file (of an earlier run) or a
    /// path this job handed out already has it.
    private func reservePaths(_ instances: [ConvertedInstance], folder: String) -> [String] {
        var paths: [String] = []
        for instance in instances {
            let stem = (instance.suggestedName as NSString).deletingPathExtension
            var path = folder + "/" + instance.suggestedName
            var k = 2
            // Never overwrite what an earlier run wrote.
            while FileManager.default.fileExists(atPath: path) || reserved.contains(path) {
                path = folder + "/\(stem)_\(k).dcm"
                k += 1
            }
            reserved.insert(path)
            paths.append(path)
        }
        return paths
    }

    /// Writes instances into their folder paths: encoded as parts, each
    /// file atomically, the batch made durable together (``AtomicFile/writeAll(_:)``).
    private static func writeFolder(_ instances: [ConvertedInstance], paths: [String]) -> [Result<ConvertEvent.Output, any Error>] {
        // Parts: the encoded attributes, the pixel data or PDF as converted (not copied again).
        var encoded: [Result<[Data], DICOMError>] = []
        for instance in instances {
            encoded.append(Result { () throws(DICOMError) in try DICOMWriter.encodeParts(instance.file) })
        }
        let ready = encoded.enumerated().compactMap { index, result in (try? result.get()).map { (index, $0) } }
        let written = AtomicFile.writeAll(ready.map { (parts: $0.1, path: paths[$0.0]) })
        var results: [Result<ConvertEvent.Output, any Error>] = encoded.map { result in
            result.map { _ in ConvertEvent.Output(path: nil, sopInstanceUID: "", sopClassUID: "", transferSyntaxUID: "",
                                                  frames: 0, method: "", notes: [], storeOutcome: nil) }
                .mapError { $0 as any Error }
        }
        for (k, (index, _)) in ready.enumerated() {
            results[index] = written[k].map { _ in
                var output = ConvertJob.output(instances[index])
                output.path = paths[index]
                return output
            }.mapError { $0 as any Error }
        }
        return results
    }

    /// Stores instances in order.
    private func writeToStore(_ instances: [ConvertedInstance], store: InstanceStore, importID: Int64?) -> [Result<ConvertEvent.Output, any Error>] {
        instances.map { instance in
            Result {
                var output = ConvertJob.output(instance)
                let bytes = try DICOMWriter.encode(instance.file)
                let result = try store.store(.data(bytes, originalPath: instance.sourcePath),
                                             summary: InstanceSummary(file: instance.file), importID: importID)
                output.path = result.path
                output.storeOutcome = result.outcome.rawValue
                return output
            }
        }
    }

    private static func output(_ instance: ConvertedInstance) -> ConvertEvent.Output {
        ConvertEvent.Output(path: nil, sopInstanceUID: instance.sopInstanceUID, sopClassUID: instance.sopClassUID,
                            transferSyntaxUID: instance.file.transferSyntax.uid, frames: instance.frames,
                            method: instance.method, notes: instance.notes, storeOutcome: nil)
    }
}

/// A folder batch written in the background; `results` is set before
/// `done` is left and read only after waiting for it.
private final class PendingWrite: @unchecked Sendable {
    let batch: [(event: ConvertEvent, instances: [ConvertedInstance])]
    let done = DispatchGroup()
    var results: [Result<ConvertEvent.Output, any Error>] = []

    init(batch: [(event: ConvertEvent, instances: [ConvertedInstance])]) {
        self.batch = batch
    }
}
