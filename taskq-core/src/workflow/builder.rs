//! The typed workflow builder: steps from task handles, where a chain
//! step's params type is its parent's result type.

use std::marker::PhantomData;

use serde::Serialize;
use serde_json::Value;

use super::input::StepEnd;
use super::spec::{StepSpec, WorkflowSpec};
use crate::error::Error;
use crate::registry::TaskHandle;
use crate::task::{RunWhen, StepInput, TaskId};
use crate::wait::TaskRef;

/// A step of a [`Workflow`] being built, whose handler returns `R`. Its
/// task id is drawn when it is added, so after the submit
/// [`task_ref`](Step::task_ref) waits for it
/// ([`Client::result`](crate::Client::result)).
pub struct Step<R> {
    at: StepRef,
    _result: PhantomData<fn() -> R>,
}

impl<R> Clone for Step<R> {
    fn clone(&self) -> Self {
        Step {
            at: self.at.clone(),
            _result: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Step<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Step").field(&self.at).finish()
    }
}

impl<R> Step<R> {
    /// The step's task, typed by its handler's result.
    pub fn task_ref(&self) -> TaskRef<R> {
        TaskRef::new(self.at.id)
    }

    /// The step's task id.
    pub fn id(&self) -> TaskId {
        self.at.id
    }

    /// The step without its result type, for callbacks over steps of
    /// several types ([`Workflow::after`], [`Workflow::on_complete`]).
    pub fn any(&self) -> StepRef {
        self.at.clone()
    }
}

/// A step of a [`Workflow`] being built, of any result type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    index: usize,
    id: TaskId,
}

impl StepRef {
    /// The step's task id.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<R> From<&Step<R>> for StepRef {
    fn from(step: &Step<R>) -> StepRef {
        step.any()
    }
}

/// A workflow being built: add steps, then submit it with
/// [`Client::submit_workflow`](crate::Client::submit_workflow), which
/// checks it whole and stores every step or none.
///
/// - a **chain** link: [`then`](Workflow::then) — the parent's result is
///   the step's params;
/// - a **group**: several [`add`](Workflow::add)s (or steps after one
///   parent), run in parallel;
/// - a **chord**: [`join`](Workflow::join) — the group's results, in
///   order;
/// - **batch callbacks**: [`after`](Workflow::after) (own params, once
///   all succeeded) and [`on_complete`](Workflow::on_complete) (how each
///   ended, whatever the outcome).
///
/// A misuse (an empty group, a step of another workflow) is reported by
/// the submit, as [`Error::InvalidWorkflow`].
#[derive(Debug, Default)]
pub struct Workflow {
    spec: WorkflowSpec,
    ids: Vec<TaskId>,
    /// Each step's parents, by index: `after` is written from these at
    /// the submit, so a step renamed through `spec_mut` keeps its edges.
    parents: Vec<Vec<usize>>,
    error: Option<Error>,
}

impl Workflow {
    pub fn new() -> Workflow {
        Workflow::default()
    }

    /// Adds a step running `task` with `params`, after nothing: a root.
    pub fn add<P: Serialize, R>(&mut self, task: TaskHandle<P, R>, params: P) -> Step<R> {
        let params = self.params(task.name(), params);
        self.push(
            StepSpec::new("", task.name(), params),
            &[],
            None,
            RunWhen::Succeeded,
        )
    }

    /// Adds a step running `task` on `parent`'s result, once it finished:
    /// the next link of a chain.
    pub fn then<R, R2>(&mut self, parent: &Step<R>, task: TaskHandle<R, R2>) -> Step<R2> {
        let spec = StepSpec::new("", task.name(), Value::Null);
        self.push(
            spec,
            &[parent.any()],
            Some(StepInput::Result),
            RunWhen::Succeeded,
        )
    }

    /// Adds a step running `task` on the results of `parents`, in their
    /// order, once all finished: a chord's callback.
    pub fn join<R, R2>(&mut self, parents: &[Step<R>], task: TaskHandle<Vec<R>, R2>) -> Step<R2> {
        let parents: Vec<StepRef> = parents.iter().map(Step::any).collect();
        let spec = StepSpec::new("", task.name(), Value::Null);
        self.push(spec, &parents, Some(StepInput::Results), RunWhen::Succeeded)
    }

    /// Adds a step running `task` with its own `params` once every one of
    /// `parents` finished (a batch's success callback).
    pub fn after<P: Serialize, R>(
        &mut self,
        parents: &[StepRef],
        task: TaskHandle<P, R>,
        params: P,
    ) -> Step<R> {
        let params = self.params(task.name(), params);
        let spec = StepSpec::new("", task.name(), params);
        self.push(spec, parents, Some(StepInput::Params), RunWhen::Succeeded)
    }

    /// Adds a step running `task` once every one of `parents` ended,
    /// whatever the outcome, with how each ended (a batch's completion
    /// callback).
    pub fn on_complete<R>(
        &mut self,
        parents: &[StepRef],
        task: TaskHandle<Vec<StepEnd>, R>,
    ) -> Step<R> {
        let spec = StepSpec::new("", task.name(), Value::Null);
        self.push(spec, parents, Some(StepInput::Ends), RunWhen::Completed)
    }

    /// Adds a step by name and JSON ([`StepSpec`], its `after` naming
    /// steps added this way). Checked at the submit, against the
    /// registry.
    pub fn add_spec(&mut self, spec: StepSpec) -> StepRef {
        let input = spec.input;
        let runs = spec.runs;
        let after = spec.after.clone();
        let parents: Vec<StepRef> = after
            .iter()
            .filter_map(|name| {
                let index = self.spec.steps.iter().position(|s| &s.name == name)?;
                Some(StepRef {
                    index,
                    id: self.ids[index],
                })
            })
            .collect();
        if parents.len() != after.len() {
            self.fail(&spec.name, "`after` names a step not added before it");
        }
        self.push::<Value>(spec, &parents, input, runs).any()
    }

    /// Names a step (by default `<index>.<task type>`): the name the
    /// workflow's record, the dashboard and the REST API show.
    pub fn rename(&mut self, step: impl Into<StepRef>, name: impl Into<String>) {
        if let Some(spec) = self.spec_mut(step) {
            spec.name = name.into();
        }
    }

    /// The spec of an added step, to name it or override its queue,
    /// priority or retries (its `after` is the builder's).
    pub fn spec_mut(&mut self, step: impl Into<StepRef>) -> Option<&mut StepSpec> {
        let step = step.into();
        (self.ids.get(step.index) == Some(&step.id)).then(|| &mut self.spec.steps[step.index])
    }

    /// The spec built so far, the step ids drawn, and the first misuse.
    pub(crate) fn into_parts(mut self) -> (WorkflowSpec, Vec<TaskId>, Option<Error>) {
        let names: Vec<String> = self.spec.steps.iter().map(|s| s.name.clone()).collect();
        for (spec, parents) in self.spec.steps.iter_mut().zip(&self.parents) {
            spec.after = parents.iter().map(|p| names[*p].clone()).collect();
        }
        (self.spec, self.ids, self.error)
    }

    fn push<R>(
        &mut self,
        mut spec: StepSpec,
        parents: &[StepRef],
        input: Option<StepInput>,
        runs: RunWhen,
    ) -> Step<R> {
        let index = self.spec.steps.len();
        if spec.name.is_empty() {
            spec.name = format!("{index}.{}", spec.task);
        }
        if input.is_some_and(|i| i != StepInput::Params) && parents.is_empty() {
            self.fail(&spec.name, "a group of no steps");
        }
        let mut indexes = Vec::with_capacity(parents.len());
        for parent in parents {
            if self.ids.get(parent.index) == Some(&parent.id) {
                indexes.push(parent.index);
            } else {
                self.fail(&spec.name, "a parent step of another workflow");
            }
        }
        self.parents.push(indexes);
        spec.input = input;
        spec.runs = runs;
        let id = uuid::Uuid::now_v7();
        self.spec.steps.push(spec);
        self.ids.push(id);
        Step {
            at: StepRef { index, id },
            _result: PhantomData,
        }
    }

    fn params<P: Serialize>(&mut self, task: &str, params: P) -> Value {
        serde_json::to_value(params).unwrap_or_else(|e| {
            self.fail(task, &format!("params do not serialize: {e}"));
            Value::Null
        })
    }

    fn fail(&mut self, step: &str, message: &str) {
        self.error.get_or_insert_with(|| Error::InvalidWorkflow {
            step: step.to_owned(),
            message: message.to_owned(),
        });
    }
}
