/**
 * The uses waiting for a thread, first in first out. A use that stops waiting (aborted, timed out)
 * is settled where it stands and skipped when its turn comes, so leaving costs nothing; `size`
 * counts only those still waiting, which is what `maxQueue` bounds.
 */
import type { Task } from './thread.js';

/** A FIFO of waiting uses; see the module comment. */
export class TaskQueue<T extends Pick<Task, 'state'> = Task> {
  #items: T[] = [];
  #head = 0;
  #size = 0;

  /** Uses waiting now. */
  get size(): number {
    return this.#size;
  }

  push(task: T): void {
    this.#items.push(task);
    this.#size++;
  }

  /** Records that a queued use stopped waiting (it is settled; `shift` will skip it). */
  left(): void {
    this.#size--;
  }

  /** Puts `tasks` (waiting again) before every other, in their order. */
  unshift(tasks: readonly T[]): void {
    if (this.#head >= tasks.length) {
      this.#head -= tasks.length;
      for (let i = 0; i < tasks.length; i++) this.#items[this.#head + i] = tasks[i]!;
    } else {
      this.#items = [...tasks, ...this.#items.slice(this.#head)];
      this.#head = 0;
    }
    this.#size += tasks.length;
  }

  /** The next use still waiting, left in place; undefined if none. */
  peek(): T | undefined {
    while (this.#head < this.#items.length) {
      const task = this.#items[this.#head]!;
      if (task.state === 'queued') return task;
      this.#head++;
    }
    this.#compact();
    return undefined;
  }

  /** The next use still waiting, or undefined. */
  shift(): T | undefined {
    while (this.#head < this.#items.length) {
      const task = this.#items[this.#head++]!;
      if (task.state === 'queued') {
        this.#size--;
        this.#compact();
        return task;
      }
    }
    this.#compact();
    return undefined;
  }

  /** Takes every use still waiting. */
  drain(): T[] {
    const waiting = this.#items.slice(this.#head).filter((task) => task.state === 'queued');
    this.#items = [];
    this.#head = 0;
    this.#size = 0;
    return waiting;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
