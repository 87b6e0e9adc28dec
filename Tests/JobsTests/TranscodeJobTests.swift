import DICOM
import Foundation
import Jobs
import Testing

/// A DICOM file that cannot be read (here cut inside its pixel data) is a
/// failure, named, not skipped as "not a DICOM file" with exit status 0;
/// a file that is not DICOM at all is still skipped.
@Test func aTruncatedDICOMFileFailsTranscodeInsteadOfBeingSkipped() throws {
    let scratch = Scratch()
    var ds = Dataset()
    try ds.setString("1.2.840.10008.5.1.4.1.1.7", vr: .UI, for: .sopClassUID)
    try ds.setString("1.2.3.4.5", vr: .UI, for: .sopInstanceUID)
    ds.setIntegers([1], vr: .US, for: .samplesPerPixel)
    try ds.setString("MONOCHROME2", vr: .CS, for: .photometricInterpretation)
    ds.setIntegers([64], vr: .US, for: .rows)
    ds.setIntegers([64], vr: .US, for: .columns)
    ds.setIntegers([8], vr: .US, for: .bitsAllocated)
    ds.setIntegers([8], vr: .US, for: .bitsStored)
    ds.setIntegers([7], vr: .US, for: .highBit)
    ds.setIntegers([0], vr: .US, for: .pixelRepresentation)
    ds.set(DataElement(tag: .pixelData, vr: .OB, bytes: Data(repeating: 7, count: 64 * 64)))
    let whole = try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: .implicitVRLittleEndian))
    let input = scratch.path + "/in"
    try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: true)
    try whole.prefix(whole.count - 1000).write(to: URL(fileURLWithPath: input + "/cut.dcm"))
    try Data("not DICOM at all".utf8).write(to: URL(fileURLWithPath: input + "/notes.txt"))

    let summary = try TranscodeJob(target: .explicitLE, outputDirectory: scratch.path + "/out").run([input])
    let cut = try #require(summary.outcomes.first { $0.source.hasSuffix("cut.dcm") })
    #expect(cut.status == .failed)
    #expect(cut.message?.contains("past the end") == true || cut.message?.contains("truncated") == true)
    #expect(summary.outcomes.first { $0.source.hasSuffix("notes.txt") }?.status == .skipped)
    #expect(summary.failed == 1)
}
