@preconcurrency import CLibXML2
import DICOM
