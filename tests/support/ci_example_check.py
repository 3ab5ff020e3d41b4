"""Print the `run` script of one step of a GitHub Actions workflow (by step name),
for tests/suite/ci_example.rs: the test runs it as written."""
import sys

import yaml

with open(sys.argv[1]) as f:
    workflow = yaml.safe_load(f)
for job in workflow["jobs"].values():
    for step in job["steps"]:
        if step.get("name") == sys.argv[2]:
            print(step["run"], end="")
            sys.exit(0)
sys.exit(f"no step named {sys.argv[2]!r}")
