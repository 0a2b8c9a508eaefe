//! Schedules declared in code (`#[long_task(cron = …)]`), and the check of
//! a definition against the registry: the part of schedules that knows
//! the task types, kept apart so the rest sits below the registry.

use std::time::Duration;

use serde_json::Value;

use super::def::ScheduleDef;
use crate::error::Error;
use crate::registry::Registry;

/// A schedule declared in code next to its handler:
/// `#[long_task(cron = "0 */5 * * * *")]` or `#[long_task(every = "30s")]`,
/// optionally with `params = r#"{"to": "ops"}"#` (JSON).
/// Upserted by name (the task's name) when a scheduler starts.
#[derive(Debug)]
pub struct StaticSchedule {
    /// The task type (also the schedule's name).
    pub task_type: &'static str,
    /// A cron expression, or `None` for an interval.
    pub cron: Option<&'static str>,
    /// The cron expression's time zone.
    pub time_zone: &'static str,
    /// The interval in milliseconds, when `cron` is `None`.
    pub every_ms: u64,
    /// The params each tick submits, as JSON text; `None` for the
    /// default (see [`StaticSchedule::all`]).
    pub params: Option<&'static str>,
}

inventory::collect!(StaticSchedule);

impl StaticSchedule {
    /// Every static schedule of the linked crates whose task is in
    /// `registry`, as definitions. Declared params must parse and fit the
    /// task's params type: otherwise an [`Error::InvalidParams`] naming
    /// the task (workers check this when they are built). Without declared
    /// params they are the default of
    /// [`ScheduleDef::with_default_params`].
    pub fn all(registry: &Registry) -> Result<Vec<ScheduleDef>, Error> {
        inventory::iter::<StaticSchedule>
            .into_iter()
            .filter_map(|s| Some((s, registry.get(s.task_type)?)))
            .map(|(s, task)| {
                let mut def = match s.cron {
                    Some(expression) => {
                        ScheduleDef::cron_in(s.task_type, s.task_type, expression, s.time_zone)
                    }
                    None => ScheduleDef::interval(
                        s.task_type,
                        s.task_type,
                        Duration::from_millis(s.every_ms),
                    ),
                };
                let declared = |path: String, message: String| Error::InvalidParams {
                    task_type: s.task_type.to_owned(),
                    path,
                    message: format!("in #[long_task(params = ...)]: {message}"),
                };
                match s.params {
                    Some(text) => {
                        def.params = serde_json::from_str(text)
                            .map_err(|err| declared(".".to_owned(), err.to_string()))?;
                        (task.validate)(&def.params)
                            .map_err(|err| declared(err.path, err.message))?;
                    }
                    None => def = def.with_default_params(registry),
                }
                def.description = format!("declared in code on `{}`", s.task_type);
                Ok(def)
            })
            .collect()
    }
}

impl ScheduleDef {
    /// The definition with params that fit a task without params: `{}`,
    /// what [`ScheduleDef`]'s constructors and the HTTP body default to,
    /// becomes `null` when the task's params type refuses `{}` and takes
    /// `null`, as a handler with unit params `()` does. Any other params,
    /// and any task type the registry does not know, are left as they
    /// are. The client applies it before checking a schedule, so a unit
    /// task is schedulable without `.params(Value::Null)`.
    pub fn with_default_params(mut self, registry: &Registry) -> Self {
        let empty = self.params.as_object().is_some_and(|o| o.is_empty());
        if let Some(task) = registry.get(&self.task_type)
            && empty
            && (task.validate)(&self.params).is_err()
            && (task.validate)(&Value::Null).is_ok()
        {
            self.params = Value::Null;
        }
        self
    }

    /// Also checks the task type and params against `registry`, the way
    /// submitting by name does (a workflow's steps, each against its own
    /// type: [`WorkflowSpec::check_with`](crate::workflow::WorkflowSpec::check_with)).
    pub fn validate_with(&self, registry: &Registry) -> Result<(), Error> {
        self.validate()?;
        if let Some(spec) = &self.workflow {
            return spec.check_with(registry).map(drop);
        }
        let def = registry
            .get(&self.task_type)
            .ok_or_else(|| Error::UnknownTaskType(self.task_type.clone()))?;
        (def.validate)(&self.params).map_err(|err| Error::InvalidParams {
            task_type: def.name.to_owned(),
            path: err.path,
            message: err.message,
        })
    }
}
