"""The constants of the `fakturering_ws` contract (visma-ws.md), written once for the client, the
fast envelope and reply code, the worker and the simulator."""

from __future__ import annotations

from pathlib import Path

NAMESPACE = "urn:kommune-fakturering:fakturering-ws:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

WSDL_DIR = Path(__file__).resolve().parent / "wsdl"
WSDL_FILE = "fakturering-ws.wsdl"
WSDL_PATH = WSDL_DIR / WSDL_FILE
XSD_PATH = WSDL_DIR / "fakturering-ws.xsd"

# The contract's maxima per call.
MAX_BASES_PER_CALL = 200  # SendFakturagrunnlag
MAX_REFERANSER_PER_STATUS = 500  # HentStatus
