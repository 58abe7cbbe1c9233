(* A tiny bank account module. *)

type currency = EUR | USD

type account = {
  owner : string;
  mutable balance : float;
  currency : currency;
}

exception Insufficient_funds of float

module type LEDGER = sig
  val record : string -> float -> unit
end

module Ledger : LEDGER = struct
  let entries = ref []
  let record owner amount = entries := (owner, amount) :: !entries
end

let create owner currency = { owner; balance = 0.0; currency }

let deposit acct amount =
  acct.balance <- acct.balance +. amount;
  Ledger.record acct.owner amount

let withdraw acct amount =
  if amount > acct.balance then raise (Insufficient_funds acct.balance)
  else begin
    acct.balance <- acct.balance -. amount;
    Ledger.record acct.owner (-. amount)
  end

let describe acct =
  Printf.sprintf "%s: %.2f %s" acct.owner acct.balance
    (match acct.currency with EUR -> "EUR" | USD -> "USD")

class counter = object (self)
  val mutable count = 0
  method incr = count <- count + 1; self#get
  method get = count
end

let () =
  let a = create "ann" EUR in
  deposit a 100.0;
  withdraw a 30.0;
  print_endline (describe a)

let sig_demo (a : int) (* sigcomment *) b = a + b
