"""Typed readers of a run directory's records: ``results.json``, ``manifest.json`` and ``certificate.json``.

Each record family has its module (``study``, ``flow``, ``estimates``, ``rd``, ``did``, ``pricing``, ``surrogate``,
``equity``, ``manifest``, ``certificate``, ``run``); every record is a frozen dataclass with ``from_dict``. Numbers are
:class:`Num` and texts :class:`Text`, which carry their JSON path, so whoever shows a value can say where it came
from. A value of a type the run never writes where it is (a text where an object belongs) is a :class:`RecordError`
naming its path.
"""

from cteimpact.records._base import Leaf, Num, Record, RecordError, RecordMap, Scalar, Text, join_path
from cteimpact.records.certificate import Certificate
from cteimpact.records.did import DiDDetails, DiDExtra, DiDOptions
from cteimpact.records.equity import Equity
from cteimpact.records.estimates import EstimateRow
from cteimpact.records.flow import FlowStep, SampleFlow
from cteimpact.records.manifest import Manifest
from cteimpact.records.pricing import Pricing
from cteimpact.records.rd import RDDetails, RDOptions
from cteimpact.records.run import Design, Results, RunRecords
from cteimpact.records.study import Privacy, Study
from cteimpact.records.surrogate import Surrogate, SurrogateCheck

__all__ = [
    "Certificate",
    "Design",
    "DiDDetails",
    "DiDExtra",
    "DiDOptions",
    "Equity",
    "EstimateRow",
    "FlowStep",
    "Leaf",
    "Manifest",
    "Num",
    "Pricing",
    "Privacy",
    "RDDetails",
    "RDOptions",
    "Record",
    "RecordError",
    "RecordMap",
    "Results",
    "RunRecords",
    "SampleFlow",
    "Scalar",
    "Study",
    "Surrogate",
    "SurrogateCheck",
    "Text",
    "join_path",
]
