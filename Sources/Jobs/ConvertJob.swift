import Convert
import DICOM
import Foundation
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

    public init(session: ConversionSession, destination: Destination) {
        self.session = session
        self.destination = destination
    }

    /// The patient and study attributes of a study already in the store
    /// (`--study UID`): the new series are filed beside the study's own,
    /// numbered after them. Throws when the store does not know the study.
    public static func studyContext(_ studyInstanceUID: String, store: InstanceStore) throws -> (PatientIdentity, StudyContext) {
        let found = try store.lookup(studyInstanceUID)
        guard let study = found.studies.first else {
            throw ConvertError(.invalidOption, "study \(studyInstanceUID) is not in the store at \(store.home)")
        }
        let patient = try store.patients(patientID: study.patientID).first
        let highest = try store.series(studyInstanceUID: study.studyInstanceUID).compactMap(\.seriesNumber).max() ?? 0
        let identity = PatientIdentity(patientID: study.patientID, patientName: study.patientName ?? patient?.patientName ?? "",
                                       issuerOfPatientID: patient?.issuerOfPatientID,
                                       birthDate: patient?.birthDate, sex: patient?.sex)
        let context = StudyContext(studyInstanceUID: study.studyInstanceUID, studyDate: study.studyDate, studyTime: study.studyTime,
                                   studyDescription: study.studyDescription, accessionNumber: study.accessionNumber,
                                   studyID: study.studyID, firstSeriesNumber: highest + 1)
        return (identity, context)
    }

    /// The catalog's patient with this ID, when there is exactly one
    /// (name, birth date, sex fill what the options leave out).
    public static func knownPatient(_ patientID: String, store: InstanceStore) throws -> PatientIdentity? {
        let records = try store.patients(patientID: patientID)
        guard records.count == 1, let record = records.first else { return nil }
        return PatientIdentity(patientID: record.patientID, patientName: record.patientName ?? "",
                               issuerOfPatientID: record.issuerOfPatientID, birthDate: record.birthDate, sex: record.sex)
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
        for input in inputs {
            var event = ConvertEvent(source: input, format: nil, ok: false, outputs: [], error: nil)
            do {
                let instances = try session.convert(input)
                event.format = instances.first?.sourceFormat.rawValue
                for instance in instances {
                    event.outputs.append(try write(instance, importID: importID))
                }
                event.ok = true
                summary.converted += 1
                summary.instances += instances.count
            } catch let error as ConvertError {
                event.error = error.description
            } catch let error as DICOMError {
                event.error = "\(input): \(error.description)"
            } catch let error as StoreError {
                event.error = "\(input): \(error.description)"
            } catch {
                event.error = "\(input): \(error)"
            }
            if !event.ok { summary.failed += 1 }
            events(event)
        }
        if case .store(let store) = destination, let importID {
            try store.finishImport(importID, status: summary.failed == 0 ? .completed : .failed, failed: 0,
                                   note: summary.failed == 0 ? nil : "\(summary.failed) file(s) not converted")
        }
        let elapsed = ContinuousClock.now - clock
        summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return summary
    }

    private func write(_ instance: ConvertedInstance, importID: Int64?) throws -> ConvertEvent.Output {
        var output = ConvertEvent.Output(path: nil, sopInstanceUID: instance.sopInstanceUID, sopClassUID: instance.sopClassUID,
                                         transferSyntaxUID: instance.file.transferSyntax.uid, frames: instance.frames,
                                         method: instance.method, notes: instance.notes, storeOutcome: nil)
        switch destination {
        case .folder(let folder):
            var path = folder + "/" + instance.suggestedName
            // Never overwrite what an earlier run wrote.
            var k = 2
            let stem = (instance.suggestedName as NSString).deletingPathExtension
            while FileManager.default.fileExists(atPath: path) {
                path = folder + "/\(stem)_\(k).dcm"
                k += 1
            }
            try instance.file.write(to: path)
            output.path = path
        case .store(let store):
            let bytes = try DICOMWriter.encode(instance.file)
            let result = try store.store(.data(bytes, originalPath: instance.sourcePath),
                                         summary: InstanceSummary(file: instance.file), importID: importID)
            output.path = result.path
            output.storeOutcome = result.outcome.rawValue
        }
        return output
    }
}
