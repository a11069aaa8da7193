"""Azure Functions entry point (Python v2 model): wiring only. The logic lives in `checks/`."""
import logging

import azure.functions as func

from checks import http_api, http_auth, http_report
from checks.engine.logsetup import configure_logging

configure_logging()
# HTTP_AUTH_MODE=entra (default): App Service Authentication guards the routes (no key); function-key: the opt-out
app = func.FunctionApp(http_auth_level=http_auth.auth_level())


@app.timer_trigger(schedule="%VERIFY_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def monthly_verification(timer: func.TimerRequest) -> None:
    result = http_api.run_timer(past_due=timer.past_due)
    logging.getLogger("checks.timer").info("monthly verification: %s", result.get("status"))


@app.queue_trigger(arg_name="msg", queue_name="%FLEET_QUEUE%", connection="FleetQueue")
def fleet_target_run(msg: func.QueueMessage) -> None:
    """One target of the fleet (the monthly timer enqueued it); raising makes the host retry, then poison it."""
    from checks import queue_face  # lazy: cold start
    queue_face.run_queued(msg.get_body(), msg.dequeue_count or 1)


@app.queue_trigger(arg_name="msg", queue_name="%FLEET_QUEUE%-poison", connection="FleetQueue")
def fleet_target_poisoned(msg: func.QueueMessage) -> None:
    """A target message the host gave up on: journal and log it (the poison alert reads the log line)."""
    from checks import queue_face  # lazy: cold start
    queue_face.run_poisoned(msg.get_body())


@app.timer_trigger(schedule="%RESTORE_DRILL_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def restore_drill_timer(timer: func.TimerRequest) -> None:
    result = http_api.run_drill_timer(past_due=timer.past_due)
    if result.get("advanced") or result.get("swept") or result.get("error"):
        logging.getLogger("checks.timer").info("restore drill: %s", result)


@app.route(route="drill", methods=["POST"])
def drill_start(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.drill_start(req)


@app.route(route="restore/plan", methods=["POST"])
def restore_plan(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.restore_plan(req)


@app.route(route="verify", methods=["POST"])
def verify(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.verify(req)


@app.route(route="journal", methods=["GET"])
def journal_month(req: func.HttpRequest) -> func.HttpResponse:
    return http_report.journal_month(req)


@app.route(route="journal/{run_id}", methods=["GET"])
def journal_run(req: func.HttpRequest) -> func.HttpResponse:
    return http_report.journal_run(req)


@app.route(route="report", methods=["GET"])
def report(req: func.HttpRequest) -> func.HttpResponse:
    return http_report.report(req)


@app.route(route="pages/{page}", methods=["GET"])
def pages(req: func.HttpRequest) -> func.HttpResponse:
    return http_report.pages(req)


@app.route(route="report/{month}/signoff", methods=["POST"])
def report_signoff(req: func.HttpRequest) -> func.HttpResponse:
    return http_report.report_signoff(req)


@app.route(route="deviations", methods=["GET"])
def deviations(req: func.HttpRequest) -> func.HttpResponse:
    from checks import http_deviations  # lazy: cold start
    return http_deviations.deviations(req)


@app.route(route="deviations/{id}/close", methods=["POST"])
def deviation_close(req: func.HttpRequest) -> func.HttpResponse:
    from checks import http_deviations  # lazy: cold start
    return http_deviations.deviation_close(req)


@app.timer_trigger(schedule="%HEARTBEAT_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def daily_heartbeat(timer: func.TimerRequest) -> None:
    """Feeds the dead-man alert (infra/modules/alerts.bicep): age of the newest journaled run."""
    from checks import heartbeat  # lazy: cold start
    heartbeat.run_daily()
