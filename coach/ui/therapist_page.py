"""Patients (therapists only): the list with adherence, and per patient the plan, progress
(trends with their uncertainty), sessions with replay, notes, the report and the data.

The page reads widgets and calls the services; every read is access-checked there, so a
patient id typed into the address (`?patient=...`) that is not the therapist's own shows
the same refusal as an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from coach.accounts import Principal, Role
from coach.prescription import DoseError, Prescription
from coach.records import SessionRecord, Unit, summarize
from coach.services import Services
from coach.services.access import AccessDenied
from coach.services.clinic import InputProblem
from coach.storage.database import StorageError
from coach.storage.store import PatientRow
from coach.trends import (
    WeekAdherence,
    adherence,
    adherence_share,
    change_vs_baseline,
    exercise_trend,
    recent_cues,
)
from coach.ui.auth import current_user, get_services
from coach.ui.common import md_escape
from coach.ui.state import get_exercises
from coach.ui.summary import render_record
from coach.wording import cue_label

PATIENT_PARAM = "patient"
NEW_CODE_KEY = "coach_new_invite"
SAVED_KEY = "coach_plan_saved"
UNIT_WORDS = {Unit.DEG.value: "°", Unit.PCT_SHANK.value: "% of shin length"}


@dataclass(frozen=True, slots=True)
class _ListRow:
    this_week: str
    four_weeks: str
    last_session: str


def _list_row(services: Services, user: Principal, patient: PatientRow) -> _ListRow:
    """This week's and the last four weeks' sessions against the plan, and the last one."""
    today = date.today()
    since = datetime.combine(today - timedelta(days=today.weekday() + 21), time.min).astimezone()
    plan = services.clinic.plan_history(user, patient.id)
    sessions = services.sessions.recent(user, patient.id, since)
    weeks = adherence(sessions, plan, today=today, weeks=4)
    week = weeks[-1]
    share = adherence_share(weeks)
    done = [s for s in sessions if s.reps]
    last = max((s.started_at for s in done), default=None)
    return _ListRow(
        this_week=f"{week.done} of {week.planned}" if week.planned else "no plan",
        four_weeks="-" if share is None else f"{share:.0%}",
        last_session=last.astimezone().strftime("%Y-%m-%d") if last else "none yet",
    )


def _patient_list(services: Services, user: Principal) -> None:
    patients = services.clinic.patients(user)
    st.subheader("Your patients")
    if not patients:
        st.info("No patients yet. Add your first patient below.")
    else:
        rows = []
        for p in patients:
            row = _list_row(services, user, p)
            rows.append(
                {
                    "Patient": p.name,
                    "Affected side": p.affected_side or "-",
                    "Sessions this week": row.this_week,
                    "Last 4 weeks": row.four_weeks,
                    "Last session": row.last_session,
                    "Own login": "yes" if p.login_name else "not yet",
                }
            )
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        names = {p.id: p.name for p in patients}
        chosen = st.selectbox(
            "Open a patient",
            list(names),
            format_func=lambda pid: names[pid],
            index=None,
            placeholder="Choose a patient",
        )
        if chosen:
            st.query_params[PATIENT_PARAM] = chosen
            st.rerun()
    with (
        st.expander("Add a patient", expanded=not patients),
        st.form("coach_add_patient", clear_on_submit=True),
    ):
        name = st.text_input("Name", max_chars=120)
        side = st.radio("Affected side", ["left", "right", "not set"], horizontal=True)
        if st.form_submit_button("Add patient"):
            try:
                new = services.clinic.add_patient(user, name, None if side == "not set" else side)
                st.session_state[NEW_CODE_KEY] = (new.patient.name, new.invite_code)
                st.rerun()
            except (InputProblem, StorageError) as exc:
                st.error(str(exc))
    shown = st.session_state.pop(NEW_CODE_KEY, None)
    if shown:
        st.success(
            f"Added **{md_escape(shown[0])}**. Their invitation code is **{shown[1]}**: give it "
            "to them to sign in (it is shown only now, and works for 14 days)."
        )


def _plan_tab(services: Services, user: Principal, patient: PatientRow) -> None:
    library = get_exercises()
    plan = services.clinic.plan(user, patient.id)
    saved = st.session_state.pop(SAVED_KEY, None)
    if saved:
        st.success(saved)
    if plan:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Exercise": library[p.exercise_id].name
                        if p.exercise_id in library
                        else p.exercise_id,
                        "Sets x reps": f"{p.sets} x {p.reps}",
                        "Hold (s)": "-" if p.hold_s is None else f"{p.hold_s:g}",
                        "Days a week": p.per_week,
                        "Side": p.side or patient.affected_side or "-",
                        "Notes": p.notes,
                        "Set on": p.set_at.astimezone().strftime("%Y-%m-%d") if p.set_at else "",
                    }
                    for p in plan
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.info("No exercises prescribed yet.")
    st.markdown("**Prescribe an exercise** (or change one already in the plan)")
    ex_id = st.selectbox(
        "Exercise", list(library), format_func=lambda i: library[i].name, key="coach_rx_ex"
    )
    ex = library[ex_id]
    current = next((p for p in plan if p.exercise_id == ex_id), None)
    start = current or Prescription(ex_id, ex.dose.sets, ex.dose.reps, hold_s=ex.dose.hold_s)
    with st.form(f"coach_prescribe_{ex_id}"):  # a form per exercise: its own defaults
        c1, c2, c3, c4 = st.columns(4)
        sets = c1.number_input("Sets", 1, 10, start.sets)
        reps = c2.number_input("Reps", 1, 50, start.reps)
        hold = c3.number_input("Hold (s)", 0.0, 120.0, float(start.hold_s or 0.0), step=1.0)
        per_week = c4.number_input("Days a week", 1, 14, start.per_week)
        unit = "°" if ex.unit == "°" else "% of shin length"
        target = st.number_input(
            f"Target range ({unit}; 0: the guide's {ex.counter.target:g})",
            0.0,
            90.0,
            float(start.target or 0.0),
            step=1.0,
            help="How far each rep should reach for it to count as reaching the target.",
        )
        legs = ["affected side", "left", "right"]
        side = st.radio(
            "Leg", legs, index=legs.index(start.side) if start.side else 0, horizontal=True
        )
        notes = st.text_area("Notes for the patient", start.notes, max_chars=2000)
        if st.form_submit_button("Save to plan"):
            try:
                rx = Prescription(
                    exercise_id=ex_id,
                    sets=int(sets),
                    reps=int(reps),
                    hold_s=float(hold),
                    per_week=int(per_week),
                    side=None if side == "affected side" else side,
                    target=float(target) if target else None,
                    notes=notes,
                )
                services.clinic.set_prescription(user, patient.id, rx)
                # Shown after the rerun that redraws the plan table (a message written
                # just before st.rerun would vanish with it).
                st.session_state[SAVED_KEY] = f"Saved: {ex.name}, {rx.sets} x {rx.reps}."
                st.rerun()
            except DoseError as exc:
                st.error(f"Please check {exc.field.replace('_', ' ')}: it {exc.problem}.")
            except (InputProblem, StorageError) as exc:
                st.error(str(exc))
    if plan:
        stop = st.selectbox(
            "Remove an exercise from the plan",
            [p.id for p in plan],
            format_func=lambda pid: next(
                library[p.exercise_id].name if p.exercise_id in library else p.exercise_id
                for p in plan
                if p.id == pid
            ),
            index=None,
            key="coach_rx_stop",
        )
        if stop and st.button("Remove", key="coach_rx_stop_btn"):
            services.clinic.stop_prescription(user, patient.id, stop)
            st.rerun()


def _adherence_chart(weeks: list[WeekAdherence]) -> alt.Chart:
    rows = [
        {"week": f"{w.week_start:%d %b}", "what": what, "sessions": n}
        for w in weeks
        for what, n in (("planned", w.planned), ("done", w.done))
    ]
    order = [f"{w.week_start:%d %b}" for w in weeks]
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(
            x=alt.X("week:N", title="Week starting", sort=order, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("what:N", sort=["planned", "done"]),
            y=alt.Y("sessions:Q", title="Sessions", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("what:N", title="", sort=["planned", "done"]),
            tooltip=["week:N", "what:N", "sessions:Q"],
        )
        .properties(height=220)
    )


def _trend_chart(points: list[dict[str, object]], unit: str) -> alt.LayerChart:
    df = pd.DataFrame(points)
    base = alt.Chart(df).encode(
        x=alt.X("date:T", title="Session", axis=alt.Axis(format="%d %b", labelAngle=0))
    )
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("low:Q", title=f"Range ({unit})"), y2="high:Q"
    )
    line = base.mark_line(point=True).encode(
        y="value:Q", tooltip=["date:T", "value:Q", "low:Q", "high:Q", "reps:Q"]
    )
    return band + line


def progress_section(services: Services, user: Principal, patient: PatientRow) -> None:
    sessions = services.sessions.history(user, patient.id)
    plan = services.clinic.plan_history(user, patient.id)
    today = date.today()
    weeks = adherence(sessions, plan, today=today, weeks=8)
    if weeks:
        share = adherence_share(weeks)
        st.markdown(
            f"**Adherence, last 8 weeks:** {share:.0%} of planned sessions done"
            if share is not None
            else "**Adherence:** no plan in this period."
        )
        st.altair_chart(_adherence_chart(weeks), width="stretch")
    if not sessions:
        st.info("No sessions yet.")
        return
    names = {s.exercise_id: s.exercise_name for s in sessions}
    for ex_id, name in names.items():
        trend = exercise_trend(sessions, ex_id)
        if not trend.points:
            continue
        st.markdown(f"**{md_escape(name)}**")
        unit = UNIT_WORDS.get(trend.points[-1].unit, trend.points[-1].unit)
        st.altair_chart(
            _trend_chart(
                [
                    {
                        "date": p.started_at.astimezone(),
                        "value": round(p.value, 1),
                        "low": round(p.low, 1),
                        "high": round(p.high, 1),
                        "reps": p.n_reps,
                    }
                    for p in trend.points
                ],
                unit,
            ),
            width="stretch",
        )
        change = change_vs_baseline(trend)
        if change is None:
            st.caption("Shaded: the measurement uncertainty. One session so far: no trend yet.")
        else:
            verdict = (
                f"a change of {change.delta:+.1f} {unit}, larger than the minimal detectable "
                f"change ({change.mdc95:.1f} {unit}): {change.direction}"
                if change.detectable
                else f"{change.delta:+.1f} {unit}, within the minimal detectable change "
                f"({change.mdc95:.1f} {unit}): no detectable change yet"
            )
            st.caption(f"Shaded: the measurement uncertainty. First sessions to latest: {verdict}.")
    cues = recent_cues(sessions, top=5, since=today - timedelta(days=28))
    own = user.role is Role.PATIENT
    st.markdown(
        "**What the coach corrected most (last 4 weeks)**"
        if own
        else "**What the patient was corrected on most (last 4 weeks)**"
    )
    if cues:
        st.dataframe(
            pd.DataFrame({"Cue": [cue_label(c) for c, _ in cues], "Times": [n for _, n in cues]}),
            hide_index=True,
        )
    else:
        st.caption("No corrections.")
    gait = services.sessions.walks(user, patient.id)
    if gait:
        st.markdown("**Walking**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Date": g.started_at.astimezone().strftime("%Y-%m-%d"),
                        "Steps": g.steps,
                        "Cadence (steps/min)": g.cadence_spm,
                        "Signs": ", ".join(f.replace("_", " ") for f in g.flags) or "none",
                    }
                    for g in gait
                ]
            ),
            hide_index=True,
        )


def sessions_section(services: Services, user: Principal, patient: PatientRow) -> None:
    sessions = list(reversed(services.sessions.history(user, patient.id)))
    if not sessions:
        st.info("No sessions yet.")
        return
    rows = []
    for s in sessions:
        summ = summarize(s)
        rows.append(
            {
                "Date": s.started_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                "Exercise": s.exercise_name,
                "Reps": f"{summ.reps} of {summ.planned_reps}",
                "From": "video" if s.source.value == "video" else "live",
                "Status": s.status.value.replace("_", " "),
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    labels = {s.id: f"{r['Date']} - {r['Exercise']}" for s, r in zip(sessions, rows, strict=True)}
    chosen = st.selectbox("Open a session", list(labels), format_func=lambda i: labels[i])
    if chosen:
        record: SessionRecord = services.sessions.session(user, chosen)
        library = get_exercises()
        ex = library.get(record.exercise_id)
        st.markdown("**Replay** (the measured leg, from the stored landmarks: no video is kept)")
        from coach.ui.replay import render_replay

        render_replay(record, key=f"replay-{record.id}")
        if record.video_kept:
            video = services.sessions.kept_video(user, record.id)
            if video is not None:
                st.markdown("**The recording** (the patient chose to keep it for you)")
                st.video(video)
        if ex is not None:
            render_record(record, ex)


def _report_tab(services: Services, user: Principal, patient: PatientRow) -> None:
    since = st.date_input("From", value=date.today() - timedelta(days=28), key="coach_rep_since")
    if st.button("Make the report", key="coach_rep_make"):
        st.session_state["coach_report"] = (
            patient.id,
            services.reports.pdf(user, patient.id, since=since),
            services.reports.csv(user, patient.id, since=since),
        )
    made = st.session_state.get("coach_report")
    if made and made[0] == patient.id:
        stamp = date.today().isoformat()
        c1, c2 = st.columns(2)
        c1.download_button(
            "Download PDF", made[1], file_name=f"report-{stamp}.pdf", mime="application/pdf"
        )
        c2.download_button(
            "Download CSV", made[2], file_name=f"report-{stamp}.csv", mime="text/csv"
        )


def _notes_tab(services: Services, user: Principal, patient: PatientRow) -> None:
    with st.form("coach_note", clear_on_submit=True):
        text = st.text_area("New note", max_chars=4000)
        if st.form_submit_button("Save note"):
            try:
                services.clinic.add_note(user, patient.id, text)
                st.rerun()
            except InputProblem as exc:
                st.error(str(exc))
    for note in reversed(services.clinic.notes(user, patient.id)):
        st.markdown(f"**{note.written_at.astimezone():%Y-%m-%d %H:%M}**")
        st.text(note.text)


def _data_tab(services: Services, user: Principal, patient: PatientRow) -> None:
    import json

    with st.form("coach_patient_details"):
        st.markdown("**Details**")
        name = st.text_input("Name", patient.name, max_chars=120)
        sides = ["left", "right"]
        side = st.radio(
            "Affected side",
            sides,
            index=sides.index(patient.affected_side) if patient.affected_side else None,
            horizontal=True,
        )
        if st.form_submit_button("Save details"):
            try:
                services.clinic.update_patient(user, patient.id, name=name, side=side)
                st.rerun()
            except (InputProblem, StorageError) as exc:
                st.error(str(exc))

    if st.button("Prepare the data export (JSON)", key="coach_export"):
        doc = services.clinic.export_patient(user, patient.id)
        st.session_state["coach_export_doc"] = (patient.id, json.dumps(doc, indent=2))
    made = st.session_state.get("coach_export_doc")
    if made and made[0] == patient.id:
        st.download_button(
            "Download all data", made[1], file_name="patient-export.json", mime="application/json"
        )
    if st.button("New invitation code", key="coach_new_code"):
        code = services.clinic.new_invite(user, patient.id)
        st.success(f"New invitation code: **{code}** (the old one no longer works).")
    st.divider()
    st.markdown("**Erase this patient** and every record of them. This cannot be undone.")
    confirm = st.text_input("Type the patient's name to confirm", key="coach_erase_confirm")
    if st.button("Erase", key="coach_erase", disabled=confirm.strip() != patient.name):
        services.clinic.erase_patient(user, patient.id)
        st.query_params.pop(PATIENT_PARAM, None)
        st.success("Erased.")
        st.rerun()


def render() -> None:
    st.title("Patients")
    user = current_user()
    if user is None or user.role is not Role.THERAPIST:
        st.info("Sign in as a therapist to see your patients.")
        return
    services = get_services()
    patient_id = st.query_params.get(PATIENT_PARAM)
    if not patient_id:
        _patient_list(services, user)
        return
    try:
        patient = services.clinic.patient(user, patient_id)
    except AccessDenied as exc:
        st.error(str(exc))
        if st.button("Back to your patients"):
            st.query_params.pop(PATIENT_PARAM, None)
            st.rerun()
        return
    if st.button("← All patients"):
        st.query_params.pop(PATIENT_PARAM, None)
        st.rerun()
    side = f" (affected side: {patient.affected_side})" if patient.affected_side else ""
    st.subheader(f"{md_escape(patient.name)}{side}")
    tabs = st.tabs(["Plan", "Progress", "Sessions", "Report", "Notes", "Data"])
    for tab, body in zip(
        tabs,
        (_plan_tab, progress_section, sessions_section, _report_tab, _notes_tab, _data_tab),
        strict=True,
    ):
        with tab:
            body(services, user, patient)
