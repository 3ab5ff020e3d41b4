"""Check a `capplan forecast --schedule-out` file with the tools that consume it,
for tests/suite/forecast_schedule.rs; print what it holds as JSON.

aws: each request is validated by botocore against the Auto Scaling service model
     of batch-put-scheduled-update-group-action (validate_parameters).
k8s-cronjob: each document is deserialized into the kubernetes client's model of
     its kind and serialized back: a key the model does not know is lost on the way,
     a required field missing raises.
keda: the ScaledObject's cron windows, evaluated at each step's time.
"""
import datetime
import json
import sys

import yaml

kind, path = sys.argv[1], sys.argv[2]

if kind == "aws":
    import botocore.session
    from botocore.validate import validate_parameters

    shape = (
        botocore.session.get_session()
        .get_service_model("autoscaling")
        .operation_model("BatchPutScheduledUpdateGroupAction")
        .input_shape
    )
    requests = json.load(open(path))
    actions = []
    for request in requests:
        validate_parameters(request, shape)
        assert 1 <= len(request["ScheduledUpdateGroupActions"]) <= 50
        actions += request["ScheduledUpdateGroupActions"]
    print(json.dumps({"requests": len(requests), "actions": actions}))

elif kind == "k8s-cronjob":
    from kubernetes import client

    api = client.ApiClient()
    models = {
        "ServiceAccount": "V1ServiceAccount",
        "Role": "V1Role",
        "RoleBinding": "V1RoleBinding",
        "CronJob": "V1CronJob",
    }
    kinds, schedules = [], []
    for doc in yaml.safe_load_all(open(path)):
        model = api._ApiClient__deserialize(doc, models[doc["kind"]])
        back = api.sanitize_for_serialization(model)
        assert back == doc, f"{doc['kind']} {doc['metadata']['name']}: {back} != {doc}"
        kinds.append(doc["kind"])
        if doc["kind"] == "CronJob":
            spec = doc["spec"]
            command = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
            patch = json.loads(command[-1])
            schedules.append(
                {
                    "schedule": spec["schedule"],
                    "timeZone": spec["timeZone"],
                    "minReplicas": patch["spec"]["minReplicas"],
                }
            )
    print(json.dumps({"kinds": kinds, "cronjobs": schedules}))

elif kind == "keda":
    doc = yaml.safe_load(open(path))
    assert doc["apiVersion"] == "keda.sh/v1alpha1" and doc["kind"] == "ScaledObject"
    year = int(sys.argv[3])

    def moment(cron):
        minute, hour, day, month, weekday = cron.split()
        assert weekday == "*"
        return datetime.datetime(year, int(month), int(day), int(hour), int(minute))

    windows = []
    for trigger in doc["spec"]["triggers"]:
        assert trigger["type"] == "cron"
        meta = trigger["metadata"]
        windows.append(
            (moment(meta["start"]), moment(meta["end"]), int(meta["desiredReplicas"]), meta["timezone"])
        )
    # What KEDA asks for at each trigger's start: the largest active window.
    held = []
    for start, _, _, _ in windows:
        active = [n for s, e, n, _ in windows if s <= start < e]
        held.append({"at": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "replicas": max(active)})
    print(json.dumps({"zones": sorted({w[3] for w in windows}), "held": held,
                      "target": doc["spec"]["scaleTargetRef"]["name"]}))
