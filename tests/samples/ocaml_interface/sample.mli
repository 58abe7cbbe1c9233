(** Public interface of the account module. *)

(** Currencies an account can hold. *)
type currency = EUR | USD

(** An account; its fields are private. *)
type account

type statement = {
  holder : string;
  total : float;
}

exception Insufficient_funds of float

module type LEDGER = sig
  val record : string -> float -> unit
end

module Ledger : LEDGER

val create : string -> currency -> account

val deposit : account -> float -> unit

val withdraw : account -> float -> unit

val statement : account -> statement

external now : unit -> float = "caml_now"

class type printer = object
  method print : account -> unit
end

external sig_demo : int (* sigcomment *) -> int = "caml_sig_demo"
