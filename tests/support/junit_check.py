"""Read a JUnit XML report with junitparser (what CI tools use) and print what it
holds as JSON, for tests/suite/junit.rs: suites with their counts, cases with their
class, result kinds and messages."""
import json
import sys

from junitparser import JUnitXml

report = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in report:
    cases = []
    for case in suite:
        cases.append(
            {
                "name": case.name,
                "classname": case.classname,
                "results": [
                    {"kind": type(r).__name__, "message": r.message, "type": r.type}
                    for r in case.result
                ],
                "system_out": case.system_out,
                "time": case.time,
            }
        )
    suites.append(
        {
            "name": suite.name,
            "tests": suite.tests,
            "failures": suite.failures,
            "errors": suite.errors,
            "properties": {p.name: p.value for p in suite.properties()},
            # junitparser reads system-err on cases only; the suite's is its element's.
            "system_err": getattr(suite._elem.find("system-err"), "text", None),
            "cases": cases,
        }
    )
print(json.dumps(suites))
