import { describe, expect, it } from 'vitest';
import {
  assertTaskMove,
  canMoveSubtask,
  canMoveTask,
  isTerminalSubtask,
  isTerminalTask,
  taskSourcesFor,
  TASK_TRANSITIONS,
  TERMINAL_TASK,
} from '../src/core/tasks/lifecycle.ts';
import { SUBTASK_STATUSES, TASK_STATUSES } from '../src/core/types.ts';

describe('task lifecycle', () => {
  it.each([
    ['SUBMITTED', 'QUEUED'],
    ['QUEUED', 'PLANNING'],
    ['PLANNING', 'ASSIGNED'],
    ['ASSIGNED', 'IN_PROGRESS'],
    ['IN_PROGRESS', 'REVIEW'],
    ['REVIEW', 'COMPLETED'],
    ['IN_PROGRESS', 'COMPLETED'],
    ['REVIEW', 'REJECTED'],
    ['ASSIGNED', 'FAILED'],
    ['IN_PROGRESS', 'CANCELLED'],
    ['FAILED', 'ASSIGNED'],
  ] as const)('allows %s -> %s', (from, to) => {
    expect(canMoveTask(from, to)).toBe(true);
    expect(() => assertTaskMove(from, to)).not.toThrow();
  });

  it.each([
    ['COMPLETED', 'IN_PROGRESS'],
    ['COMPLETED', 'FAILED'],
    ['CANCELLED', 'ASSIGNED'],
    ['REJECTED', 'COMPLETED'],
    ['SUBMITTED', 'COMPLETED'],
    ['QUEUED', 'IN_PROGRESS'],
    ['FAILED', 'COMPLETED'],
    ['IN_PROGRESS', 'REJECTED'],
  ] as const)('refuses %s -> %s with a readable reason', (from, to) => {
    expect(canMoveTask(from, to)).toBe(false);
    expect(() => assertTaskMove(from, to)).toThrow(`A task that is ${from} cannot become ${to}.`);
  });

  it('lets every active state fail or be cancelled, and finished ones stay finished', () => {
    for (const s of TASK_STATUSES) {
      if (isTerminalTask(s)) {
        expect(TASK_TRANSITIONS[s].filter((t) => t !== 'ASSIGNED')).toEqual([]);
      } else {
        expect(canMoveTask(s, 'CANCELLED')).toBe(true);
        expect(canMoveTask(s, 'FAILED')).toBe(true);
      }
    }
    expect(taskSourcesFor('COMPLETED').sort()).toEqual(['ASSIGNED', 'IN_PROGRESS', 'REVIEW', 'SCHEDULED']);
  });

  it('a scheduled task waits outside the running states: it never becomes IN_PROGRESS itself', () => {
    expect(canMoveTask('SUBMITTED', 'SCHEDULED')).toBe(true);
    expect(canMoveTask('SCHEDULED', 'IN_PROGRESS')).toBe(false);
    expect(canMoveTask('SCHEDULED', 'COMPLETED')).toBe(true);
    expect(isTerminalTask('SCHEDULED')).toBe(false);
  });

  it('subtask moves', () => {
    expect(canMoveSubtask('PENDING', 'READY')).toBe(true);
    expect(canMoveSubtask('READY', 'RUNNING')).toBe(true);
    expect(canMoveSubtask('RUNNING', 'SUCCEEDED')).toBe(true);
    expect(canMoveSubtask('RUNNING', 'DEAD')).toBe(true);
    expect(canMoveSubtask('DEAD', 'READY')).toBe(true);
    expect(canMoveSubtask('SUCCEEDED', 'READY')).toBe(false);
    expect(canMoveSubtask('PENDING', 'SUCCEEDED')).toBe(false);
    expect(canMoveSubtask('SUCCEEDED', 'FAILED')).toBe(false);
    expect(SUBTASK_STATUSES.filter(isTerminalSubtask)).toEqual(['SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED', 'SKIPPED']);
  });

  it('a failed attempt before its start and a redelivered run stay in place; the terminal list is the one written out', () => {
    expect(canMoveSubtask('READY', 'READY')).toBe(true);
    expect(canMoveSubtask('RUNNING', 'RUNNING')).toBe(true);
    expect(canMoveSubtask('PENDING', 'PENDING')).toBe(false);
    expect(TASK_STATUSES.filter(isTerminalTask)).toEqual([...TERMINAL_TASK]);
  });
});
